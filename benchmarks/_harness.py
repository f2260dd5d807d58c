"""Shared machinery for the HTTP benchmarks: start and stop servers, drive load, report latency.

Theory of operation. The machine has two cores: the server under test is pinned to core 0 and
the load generator to core 1 (`NODE_CORE`, `LOAD_CORE`), so neither steals the other's time.
Load is a fixed number of keep-alive connections for a fixed duration after a warm-up. The
generator is `wrk` with a generated Lua script when it is installed, otherwise an asyncio client
on raw streams (uvloop when present) running in its own process; both send request `n` with the
token `@ID@` in the path and body replaced by `prefix + n` (zero-padded), where `n` counts up
(distinct ids for writes) or is drawn uniformly below a bound (reads of records known to exist).
`generator_ceiling` measures the generator against a constant-response server, so a figure
close to it can be flagged as limited by the client rather than by the server.

Also here: the bare "ceiling" app (Starlette, orjson, the protocol model, plain sqlite3) that
`registry.py` compares the node with, a `loopnode` node process, and a throw-away PostgreSQL
database. Run as a script, this module is the helper process for the asyncio client and the
constant-response server (`python _harness.py load SPEC_JSON` / `constant PORT`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
NODE_CORE, LOAD_CORE = 0, 1
ID_TOKEN = "@ID@"
ID_DIGITS = 7


# -- processes ------------------------------------------------------------------------------------
# The cores this process may use when it starts, before `pin_self` narrows its own affinity.
CORES = frozenset(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else frozenset()


def pinned(core: int) -> Callable[[], None] | None:
    """A `preexec_fn` that pins the child to `core` (no-op on one-core or non-Linux hosts)."""
    if core not in CORES or len(CORES) < 2:
        return None
    return lambda: os.sched_setaffinity(0, {core})


def pin_self(core: int) -> None:
    if core in CORES and len(CORES) >= 2:
        os.sched_setaffinity(0, {core})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without LOOPNODE_* settings, so only the data dir configures a node."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPNODE_")}
    env.update(extra)
    return env


class Server:
    """A server process on 127.0.0.1 pinned to `NODE_CORE`; `stop()` ends it (and only it)."""

    def __init__(self, name: str, argv: list[str], port: int, ready_path: str, log: Path) -> None:
        self.name, self.argv, self.port, self.ready_path, self.log = (
            name,
            argv,
            port,
            ready_path,
            log,
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, env: dict[str, str] | None = None, timeout: float = 60.0) -> Server:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                env=env or clean_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=pinned(NODE_CORE),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            if _answers(self.base + self.ready_path):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {timeout:.0f} s")

    def wait_idle(
        self,
        timeout: float,
        busy: float = 0.05,
        window: float = 1.0,
        activity: Callable[[], float] | None = None,
    ) -> float:
        """Wait until the server's CPU use stays under `busy` for two `window`s in a row, and
        `activity()` (a counter such as the database's written rows) stays unchanged.

        A node starts background work (the federation relay announces every local material
        once, for example); measuring during it would measure that work too. Returns the
        seconds waited; `timeout` bounds it.
        """
        assert self.process is not None
        started, quiet = time.monotonic(), 0
        while quiet < 2 and time.monotonic() - started < timeout:
            before = (_cpu_seconds(self.process.pid), activity() if activity else 0.0)
            time.sleep(window)
            after = (_cpu_seconds(self.process.pid), activity() if activity else 0.0)
            idle = after[0] - before[0] < busy * window and after[1] == before[1]
            quiet = quiet + 1 if idle else 0
        return time.monotonic() - started

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of a process (Linux /proc; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy(seconds: float = 1.0) -> float:
    """The fraction of all CPUs busy over `seconds` (Linux /proc/stat; 0 elsewhere)."""

    def sample() -> tuple[int, int]:
        try:
            values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        except OSError:
            return 0, 0
        return sum(values), values[3] + values[4]  # total, idle + iowait

    total0, idle0 = sample()
    time.sleep(seconds)
    total1, idle1 = sample()
    total = total1 - total0
    return 1 - (idle1 - idle0) / total if total else 0.0


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status < 500)
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except OSError:
        return False


def uvicorn_argv(
    app: str, port: int, *, factory: bool = True, app_dir: Path | None = None
) -> list[str]:
    """The flags `loopnode serve` gives uvicorn (one worker, asyncio loop, warning logs, no
    access log)."""
    argv = [sys.executable, "-m", "uvicorn", app, "--host", HOST, "--port", str(port)]
    argv += ["--workers", "1", "--loop", "asyncio", "--log-level", "warning", "--no-access-log"]
    if factory:
        argv.append("--factory")
    if app_dir is not None:
        argv += ["--app-dir", str(app_dir)]
    return argv


# -- a loopnode node ------------------------------------------------------------------------------
LOOPNODE = [sys.executable, "-m", "loopnode.cli"]
NODE_INIT = {
    "--node-id": "munich.loop",
    "--name": "Munich benchmark node",
    "--country": "DE",
    "--city-code": "MUC",
    "--city": "Munich",
    "--lat": "48.137",
    "--lon": "11.575",
    "--base-url": "https://munich.example",
}


def loopnode(*args: str, exit_codes: tuple[int, ...] = (0,), timeout: float = 120) -> str:
    """The CLI's standard output; an exit status outside `exit_codes` raises."""
    result = subprocess.run(
        [*LOOPNODE, *args], capture_output=True, text=True, env=clean_env(), timeout=timeout
    )
    if result.returncode not in exit_codes:
        raise RuntimeError(f"loopnode {args[0]} failed: {result.stderr[-2000:]}")
    return result.stdout


def init_node(data_dir: Path, database_url: str | None = None) -> str:
    """`loopnode init` in `data_dir`; returns a fresh writer API key."""
    argv = ["init", "--data-dir", str(data_dir)]
    for flag, value in NODE_INIT.items():
        argv += [flag, value]
    if database_url:
        argv += ["--database-url", database_url]
    loopnode(*argv)
    with (data_dir / "loopnode.toml").open("a") as settings:
        settings.write("rate_limits = false\n")  # measure the node, not its quotas
    return (
        loopnode("apikey", "create", "--data-dir", str(data_dir), "bench").strip().splitlines()[-1]
    )


def node_server(data_dir: Path, port: int) -> Server:
    argv = [*LOOPNODE, "serve", "--data-dir", str(data_dir), "--port", str(port), "--workers", "1"]
    return Server("loopnode serve", argv, port, "/api/v1/node/info", data_dir / "serve.log")


@contextlib.contextmanager
def postgres_database(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for one run; dropped (with its connections) afterwards."""
    import psycopg

    name = f"loopnode_bench_{secrets.token_hex(5)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def backend_database(backend: str, admin_url: str) -> contextlib.AbstractContextManager[str | None]:
    """The database URL for a run on `backend`: a fresh PostgreSQL database on the server at
    `admin_url` for "PostgreSQL", None (the node's embedded SQLite default) otherwise."""
    if backend == "PostgreSQL":
        return postgres_database(admin_url)
    return contextlib.nullcontext(None)


def postgres_activity(url: str) -> Callable[[], float]:
    """A counter that moves while the database at `url` works (for `Server.wait_idle`): rows
    written, or the time whenever another session is running a statement."""
    import psycopg

    def count() -> float:
        with psycopg.connect(url, autocommit=True) as connection:
            active, written = connection.execute(
                "SELECT (SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND state = 'active' AND pid <> pg_backend_pid()),"
                " (SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0)"
                " FROM pg_stat_user_tables)"
            ).fetchone() or (0, 0)
        return time.monotonic() if active else float(written)

    return count


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# -- the bare ceiling app -------------------------------------------------------------------------
BARE_DB_ENV = "BENCH_BARE_DB"


def bare_app() -> Any:
    """Starlette with no middleware: parse (orjson), validate (the protocol model), sqlite3.

    `POST /insert` validates and inserts (WAL, synchronous=NORMAL, one autocommit transaction
    per row, like the node's pragmas); `POST /validate` does the same without the insert;
    `GET /get/{id}` returns the stored document as stored. Handlers run inline on the event loop.
    """
    import orjson
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    from loopnode.domain.errors import ValidationFailed
    from loopnode.protocol.validation import validate_entity

    db = sqlite3.connect(os.environ[BARE_DB_ENV], isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE IF NOT EXISTS docs (id TEXT PRIMARY KEY, document TEXT NOT NULL)")

    async def parse_and_validate(request: Request) -> tuple[dict[str, Any] | None, bytes]:
        raw = await request.body()
        document = orjson.loads(raw)
        try:
            validate_entity(document, "MaterialDNA")
        except ValidationFailed:
            return None, raw
        return document, raw

    def registered(document: dict[str, Any]) -> Response:
        body = orjson.dumps({**document, "status": "registered"})
        return Response(body, 201, media_type="application/ld+json")

    async def insert(request: Request) -> Response:
        document, raw = await parse_and_validate(request)
        if document is None:
            return Response(b'{"error":"invalid"}', 400, media_type="application/json")
        db.execute("INSERT INTO docs (id, document) VALUES (?, ?)", (document["id"], raw))
        return registered(document)

    async def validate(request: Request) -> Response:
        document, _raw = await parse_and_validate(request)
        if document is None:
            return Response(b'{"error":"invalid"}', 400, media_type="application/json")
        return registered(document)

    async def get(request: Request) -> Response:
        found = db.execute(
            "SELECT document FROM docs WHERE id = ?", (request.path_params["id"],)
        ).fetchone()
        if found is None:
            return Response(b'{"error":"not found"}', 404, media_type="application/json")
        return Response(found[0], media_type="application/ld+json")

    return Starlette(
        routes=[
            Route("/insert", insert, methods=["POST"]),
            Route("/validate", validate, methods=["POST"]),
            Route("/get/{id}", get, methods=["GET"]),
        ]
    )


def bare_server(db_path: Path, port: int, log: Path) -> tuple[Server, dict[str, str]]:
    server = Server(
        "bare app", uvicorn_argv("_harness:bare_app", port, app_dir=HERE), port, "/", log
    )
    return server, clean_env(**{BARE_DB_ENV: str(db_path)})


def fill_bare_db(db_path: Path, rows: Iterator[tuple[str, bytes]], batch: int = 5000) -> None:
    db = sqlite3.connect(db_path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS docs (id TEXT PRIMARY KEY, document TEXT NOT NULL)")
    chunk: list[tuple[str, bytes]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= batch:
            _insert_bare(db, chunk)
    _insert_bare(db, chunk)
    db.close()


def _insert_bare(db: sqlite3.Connection, chunk: list[tuple[str, bytes]]) -> None:
    if chunk:
        db.execute("BEGIN")
        db.executemany("INSERT INTO docs (id, document) VALUES (?, ?)", chunk)
        db.execute("COMMIT")
        chunk.clear()


# -- load specification and results --------------------------------------------------------------
@dataclass(frozen=True)
class Load:
    """One load pattern: request `n` has `@ID@` replaced by `prefix` + `n` (7 digits).

    `mode` "sequence" counts n from `start` (distinct ids); "random" draws n in [0, bound).
    """

    method: str
    path: str
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    prefix: str = ""
    mode: str = "sequence"
    start: int = 0
    bound: int = 1
    connections: int = 32

    def with_(self, **changes: Any) -> Load:
        return Load(**{**asdict(self), **changes})

    def ident(self, n: int) -> str:
        return f"{self.prefix}{n:0{ID_DIGITS}d}"


@dataclass(frozen=True)
class Result:
    tool: str
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def run_load(base: str, load: Load, seconds: float, tool: str) -> Result:
    """Drive `load` against `base` for `seconds`; `tool` is "wrk" or "python"."""
    if tool == "wrk":
        return _run_wrk(base, load, seconds)
    return _run_python(base, load, seconds)


@dataclass(frozen=True)
class Measurement:
    """A measured run, the server's CPU time per request during it, and the load advanced
    past every id the warm-up and the run used (for a next, distinct-id run)."""

    result: Result
    cpu_us: float
    next_load: Load
    other_cpu: float = 0.0  # share of all CPUs busy with other processes (or hypervisor steal)


def measure(server: Server, load: Load, warmup: float, seconds: float, tool: str) -> Measurement:
    """A warm-up then a measured run against `server`."""
    if warmup > 0:
        warm = run_load(server.base, load, warmup, tool)
        load = load.with_(start=load.start + warm.requests + load.connections * 4)
    assert server.process is not None
    cpu, busy, client, started = (
        _cpu_seconds(server.process.pid),
        _busy_seconds(),
        _children_seconds(),
        time.monotonic(),
    )
    result = run_load(server.base, load, seconds, tool)
    cpu = _cpu_seconds(server.process.pid) - cpu
    others = _busy_seconds() - busy - cpu - (_children_seconds() - client)
    share = max(others, 0.0) / ((time.monotonic() - started) * (os.cpu_count() or 1))
    cpu_us = cpu / result.requests * 1e6 if result.requests else 0.0
    advanced = load.with_(start=load.start + result.requests + load.connections * 4)
    return Measurement(result, cpu_us, advanced, share)


def _busy_seconds() -> float:
    """CPU seconds busy since boot, steal included (Linux /proc/stat; 0 elsewhere)."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except OSError:
        return 0.0
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def _children_seconds() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- wrk ------------------------------------------------------------------------------------------
_LUA = """
local method, path_t, body_t = {method}, {path}, {body}
local prefix, mode, n, bound = {prefix}, {mode}, {start}, {bound}
local token = "@ID@"
wrk.headers = {{}}
{headers}
math.randomseed({seed})
local function ident()
  local k = n
  if mode == "sequence" then n = n + 1 else k = math.random(0, bound - 1) end
  return prefix .. string.format("%0{digits}d", k)
end
request = function()
  local id = ident()
  local path = (path_t:gsub(token, id))
  local body = nil
  if body_t ~= "" then body = (body_t:gsub(token, id)) end
  return wrk.format(method, path, nil, body)
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRK-RESULT %d %d %d %d %d\\n", summary.requests, summary.duration,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def _lua_string(text: str) -> str:
    level = "=" * 8
    return f"[{level}[{text}]{level}]"


def wrk_script(load: Load) -> str:
    headers = "\n".join(
        f"wrk.headers[ {_lua_string(k)} ] = {_lua_string(v)}" for k, v in load.headers.items()
    )
    return _LUA.format(
        method=_lua_string(load.method),
        path=_lua_string(load.path),
        body=_lua_string(load.body),
        prefix=_lua_string(load.prefix),
        mode=_lua_string(load.mode),
        start=load.start,
        bound=max(load.bound, 1),
        headers=headers,
        seed=secrets.randbelow(2**31),
        digits=ID_DIGITS,
    )


def _run_wrk(base: str, load: Load, seconds: float) -> Result:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(wrk_script(load))
    try:
        argv = ["wrk", "-t1", f"-c{load.connections}", f"-d{max(seconds, 1):.0f}s"]
        argv += ["--timeout", "5s", "-s", handle.name, base]
        output = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=seconds + 30,
            preexec_fn=pinned(LOAD_CORE),
            check=True,
        ).stdout
    finally:
        os.unlink(handle.name)
    line = next(x for x in output.splitlines() if x.startswith("WRK-RESULT"))
    requests, duration_us, errors, p50, p99 = (int(v) for v in line.split()[1:])
    return Result("wrk", requests, duration_us / 1e6, errors, p50 / 1000, p99 / 1000)


# -- the asyncio client (its own process) ---------------------------------------------------------
def _run_python(base: str, load: Load, seconds: float) -> Result:
    spec = json.dumps({"base": base, "seconds": seconds, "load": asdict(load)})
    output = subprocess.run(
        [sys.executable, str(Path(__file__)), "load", spec],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        preexec_fn=pinned(LOAD_CORE),
        check=True,
    ).stdout
    return Result(**json.loads(output.strip().splitlines()[-1]))


def _request_bytes(load: Load, host: str, n: int) -> bytes:
    ident = load.ident(n)
    body = load.body.replace(ID_TOKEN, ident).encode()
    lines = [f"{load.method} {load.path.replace(ID_TOKEN, ident)} HTTP/1.1", f"Host: {host}"]
    lines += [f"{k}: {v}" for k, v in load.headers.items()]
    if body or load.method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
        elif name.strip().lower() == b"transfer-encoding":
            raise RuntimeError("chunked responses are not supported by the benchmark client")
    if length:
        await reader.readexactly(length)
    return status


async def _client(base: str, load: Load, seconds: float) -> Result:
    import random

    host_port = base.split("://", 1)[1].rstrip("/")
    host, port = host_port.rsplit(":", 1)
    counter = iter(range(load.start, 2**62))
    rng = random.Random()
    latencies: list[int] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    def next_n() -> int:
        return next(counter) if load.mode == "sequence" else rng.randrange(max(load.bound, 1))

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < deadline:
                request = _request_bytes(load, host_port, next_n())
                started = time.perf_counter_ns()
                writer.write(request)
                status = await _read_response(reader)
                latencies.append(time.perf_counter_ns() - started)
                errors += status >= 400
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(load.connections)))
    elapsed = time.perf_counter() - started
    return Result("python", len(latencies), elapsed, errors, *percentiles(latencies))


def percentiles(latencies_ns: list[int]) -> tuple[float, float]:
    if not latencies_ns:
        return 0.0, 0.0
    ordered = sorted(latencies_ns)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] / 1e6

    return at(0.50), at(0.99)


def _event_loop() -> Callable[[Any], Any]:
    try:
        import uvloop

        return uvloop.run
    except ImportError:
        return asyncio.run


# -- the constant-response server (generator ceiling) ---------------------------------------------
_CONSTANT = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


async def _constant_server(port: int) -> None:
    import httptools

    class Constant(asyncio.Protocol):
        def connection_made(self, transport: Any) -> None:
            self.transport = transport
            self.parser = httptools.HttpRequestParser(self)

        def data_received(self, data: bytes) -> None:
            self.parser.feed_data(data)

        def on_message_complete(self) -> None:
            self.transport.write(_CONSTANT)

    server = await asyncio.get_running_loop().create_server(Constant, HOST, port)
    async with server:
        await server.serve_forever()


def constant_server(port: int, log: Path) -> Server:
    argv = [sys.executable, str(Path(__file__)), "constant", str(port)]
    return Server("constant server", argv, port, "/", log)


def generator_ceiling(load: Load, seconds: float, tool: str, log: Path) -> Result:
    """The generator's own rate against a server that answers every request with `{}`."""
    port = free_port()
    with constant_server(port, log).start() as server:
        return run_load(server.base, load, seconds, tool)


def main(argv: list[str]) -> None:
    command = argv[0]
    if command == "load":
        spec = json.loads(argv[1])
        load = Load(**spec["load"])
        result = _event_loop()(_client(spec["base"], load, spec["seconds"]))
        print(json.dumps(asdict(result)))
    elif command == "constant":
        _event_loop()(_constant_server(int(argv[1])))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
