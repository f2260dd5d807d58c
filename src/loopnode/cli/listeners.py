"""A listening socket of its own for each worker of `loopnode serve --workers N` (issue 12).

uvicorn's supervisor hands every worker the one socket the parent bound. Whichever worker is
waiting in `accept` when a burst of connections arrives takes up to its backlog of them at
once: with 32 keep-alive clients, 25 against 7 was seen, and the busy worker's core saturated
while the other idled (PostgreSQL ×2 reads measured 2,800 or 4,700 a second from one run to
the next). Here each worker binds its own socket to the address with `SO_REUSEPORT`, and the
kernel spreads new connections over the workers by a hash of their addresses.

`OwnSocket` is what the supervisor passes to each worker as its socket list: it is pickled
to the child with the address only, and the child binds its socket the first time uvicorn
looks at the list. The parent binds the address once to report a port in use before any worker
starts, then closes that socket. A worker that dies takes its socket with it (the connections
queued on it are reset); its replacement binds a new one.

`SO_REUSEPORT` would also let a second `loopnode serve --workers N` of the same user bind the
same address and silently take half the connections. `claim` refuses that: the parent holds an
exclusive lock on a file named after the address for as long as it serves (a server without
`SO_REUSEPORT`, such as a single worker, already makes the bind itself fail).
"""

from __future__ import annotations

import fcntl
import re
import socket
import tempfile
from pathlib import Path
from typing import IO, Any

__all__ = ["OwnSocket", "bind", "claim", "reuse_port_available"]


def claim(host: str, port: int) -> IO[bytes]:
    """An exclusive lock on the address for this process's lifetime; `OSError` when another
    process holds it. Keep the returned file open while serving."""
    name = re.sub(r"[^A-Za-z0-9.]", "_", f"{host}-{port}")
    handle = (Path(tempfile.gettempdir()) / f"loopnode-serve-{name}.lock").open("ab")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise
    return handle


def reuse_port_available() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def bind(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


class OwnSocket(list[socket.socket]):
    """A one-socket list bound in the worker that first reads it (see the module doc); in the
    parent, where it is only passed on, it stays empty."""

    def __init__(self, host: str, port: int, backlog: int, *, in_worker: bool = False) -> None:
        super().__init__()
        self.address = (host, port, backlog)
        self._in_worker = in_worker

    def __reduce__(self) -> tuple[Any, ...]:
        return (_in_worker, self.address)

    def _bound(self) -> None:
        if self._in_worker and not super().__len__():
            self.append(bind(*self.address))

    def __iter__(self) -> Any:
        self._bound()
        return super().__iter__()

    def __len__(self) -> int:
        self._bound()
        return super().__len__()

    def __getitem__(self, index: Any) -> Any:
        self._bound()
        return super().__getitem__(index)


def _in_worker(host: str, port: int, backlog: int) -> OwnSocket:
    return OwnSocket(host, port, backlog, in_worker=True)
