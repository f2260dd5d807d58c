"""The node key file: staged replacement, reload when another process replaced it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from loopnode.adapters.federation.keyfile import KeyFile
from loopnode.protocol import keys


def test_staging_then_committing_replaces_the_key_and_readers_notice(tmp_path: Path) -> None:
    path = tmp_path / "node_ed25519.key"
    keys.save_private_key(keys.generate_private_key(), path)
    reader, writer = KeyFile(path), KeyFile(path)
    before = keys.public_raw(reader.load())  # type: ignore[arg-type]
    new = keys.generate_private_key()
    writer.stage(new)
    assert keys.public_raw(reader.load()) == before  # type: ignore[arg-type]
    assert stat.S_IMODE(os.stat(str(path) + ".next").st_mode) == 0o600
    writer.commit_staged()
    assert keys.public_raw(reader.load()) == keys.public_raw(new)  # type: ignore[arg-type]
    assert writer.staged() is None


def test_a_discarded_stage_leaves_the_key_alone(tmp_path: Path) -> None:
    path = tmp_path / "node_ed25519.key"
    original = keys.generate_private_key()
    keys.save_private_key(original, path)
    file = KeyFile(path)
    file.stage(keys.generate_private_key())
    file.discard_staged()
    assert keys.public_raw(file.load()) == keys.public_raw(original)  # type: ignore[arg-type]
    assert KeyFile(tmp_path / "missing.key").load() is None
