"""The node's private key file, re-read when another process (`loopnode keys rotate`) replaced it.

A replacement is staged as `<key>.next` (mode 0600, written atomically) and moved over the key
with `os.replace` only after the database recorded it, so a crash never leaves the node with a
key its peers were not told about.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from loopnode.protocol import keys


class KeyFile:
    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._staged_path = self._path.with_name(self._path.name + ".next")
        self._cache: tuple[tuple[int, int, int], Ed25519PrivateKey] | None = None

    @property
    def path(self) -> Path:
        return self._path

    def load(self) -> Ed25519PrivateKey | None:
        try:
            info = self._path.stat()
        except FileNotFoundError:
            return None
        stamp = (info.st_ino, info.st_mtime_ns, info.st_size)
        if self._cache is None or self._cache[0] != stamp:
            self._cache = (stamp, keys.load_private_key(self._path))
        return self._cache[1]

    def stage(self, key: Ed25519PrivateKey) -> None:
        keys.save_private_key(key, self._staged_path)

    def staged(self) -> Ed25519PrivateKey | None:
        if not self._staged_path.exists():
            return None
        return keys.load_private_key(self._staged_path)

    def commit_staged(self) -> None:
        os.replace(self._staged_path, self._path)
        self._cache = None

    def discard_staged(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._staged_path.unlink()
