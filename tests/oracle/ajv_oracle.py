"""Python side of the AJV oracle: one long-lived `node oracle.js` process answering verdicts.

The oracle is the upstream validator itself (AJV 8 + ajv-formats 3 on the official schemas), so
tests compare our models with it and never with our own code. Start it once per test session:

    oracle = AjvOracle.start(reference)         # raises OracleUnavailable with the reason
    oracle.verdict("material-dna", payload)      # -> bool

Schema names: a schema file stem (`material-dna`, `loopcoin`, ...; oneOf schemas whole), a
definition of a oneOf schema (`LoopCoinConfig`, ...) or an openapi component
(`MaterialAnnouncement`, `MaterialOffer`).

Payloads travel as JSON text, so the oracle sees what a JS node parsing the same document would:
big ints become doubles, and ±inf (what Python makes of `1e400`) is sent as `1e999`, which JS
parses to ±Infinity. NaN has no JSON form and is refused, and so is a Python string holding a
high surrogate followed by a low one: JSON (like JS) would read those two as one character.
"""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

ORACLE_DIR = Path(__file__).resolve().parent / "ajv"
_SURROGATE_PAIR = re.compile("[\ud800-\udbff][\udc00-\udfff]")
_REQUIRED_MODULES = ("ajv", "ajv-formats")


class OracleUnavailable(RuntimeError):
    """The oracle cannot run here; the message says what is missing."""


class AjvOracle:
    """A running `oracle.js`; use as a context manager or call `close()`."""

    def __init__(self, process: subprocess.Popen[bytes], schemas: list[str]) -> None:
        self._process = process
        self.schemas = frozenset(schemas)

    @classmethod
    def start(cls, reference: Path) -> AjvOracle:
        """An oracle over the reference folder `reference` (tests/reference.py finds it)."""
        problem: str | None = None
        node = shutil.which("node")
        if node is None:
            problem = "Node.js (`node`) is not on PATH; the AJV oracle needs it"
        for module in _REQUIRED_MODULES:
            if problem is None and not (ORACLE_DIR / "node_modules" / module).is_dir():
                problem = (
                    f"{ORACLE_DIR / 'node_modules' / module} is missing; run `make oracle` "
                    "(npm ci in tests/oracle/ajv)"
                )
        if problem is not None:
            raise OracleUnavailable(problem)
        assert node is not None
        process = subprocess.Popen(
            [node, str(ORACLE_DIR / "oracle.js"), str(reference)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        hello = _read_line(process)
        if not hello.get("ready"):
            process.kill()
            raise OracleUnavailable(f"the AJV oracle did not start: {hello}")
        return cls(process, hello["schemas"])

    def result(self, schema: str, payload: Any) -> dict[str, Any]:
        """AJV's answer: `{"valid": bool, "errors": [...]}`."""
        if schema not in self.schemas:
            raise KeyError(f"the oracle has no schema {schema!r}")
        line = '{"schema": ' + json.dumps(schema) + ', "payload": ' + to_json(payload) + "}\n"
        assert self._process.stdin is not None
        self._process.stdin.write(line.encode("ascii"))
        self._process.stdin.flush()
        answer = _read_line(self._process)
        if "error" in answer:
            raise RuntimeError(f"oracle error: {answer['error']}")
        return answer

    def verdict(self, schema: str, payload: Any) -> bool:
        """True when AJV accepts `payload` against `schema`."""
        return bool(self.result(schema, payload)["valid"])

    def close(self) -> None:
        if self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        for stream in (self._process.stdout, self._process.stderr):
            if stream is not None:
                stream.close()

    def __enter__(self) -> AjvOracle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def to_json(value: Any) -> str:
    """JSON text for `value`, ASCII only, with ±inf written as ±1e999 (JS reads ±Infinity)."""
    token = uuid.uuid4().hex

    def swap(item: Any) -> Any:
        if isinstance(item, str) and _SURROGATE_PAIR.search(item):
            raise ValueError(f"{item!r} has no faithful JSON form (a split surrogate pair)")
        if isinstance(item, float) and math.isinf(item):
            return f"{token}{'+' if item > 0 else '-'}"
        if isinstance(item, dict):
            return {swap(key): swap(inner) for key, inner in item.items()}
        if isinstance(item, list):
            return [swap(inner) for inner in item]
        return item

    text = json.dumps(swap(value), ensure_ascii=True, allow_nan=False)
    return text.replace(f'"{token}+"', "1e999").replace(f'"{token}-"', "-1e999")


def _read_line(process: subprocess.Popen[bytes]) -> dict[str, Any]:
    assert process.stdout is not None
    raw = process.stdout.readline()
    if not raw:
        err = process.stderr.read().decode("utf-8", "replace") if process.stderr else ""
        raise OracleUnavailable(f"the AJV oracle exited: {err.strip() or 'no output'}")
    answer: dict[str, Any] = json.loads(raw)
    return answer
