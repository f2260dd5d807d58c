"""`loopnode serve --workers N` gives each worker a listening socket of its own
(`cli/listeners.py`): the parent's list stays empty, a worker's binds on first look, and the
workers' sockets share the port (SO_REUSEPORT) so the kernel spreads connections over them."""

from __future__ import annotations

import pickle
import socket

import pytest

from loopnode.cli.listeners import OwnSocket, bind, claim, reuse_port_available

pytestmark = pytest.mark.skipif(not reuse_port_available(), reason="no SO_REUSEPORT here")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_parent_list_binds_nothing_and_each_worker_binds_its_own() -> None:
    port = _free_port()
    parent = OwnSocket("127.0.0.1", port, 16)
    assert list(parent) == [] and len(parent) == 0  # the supervisor only passes it on
    workers = [pickle.loads(pickle.dumps(parent)) for _ in range(2)]  # what spawn does
    try:
        sockets = [next(iter(worker)) for worker in workers]
        assert sockets[0] is not sockets[1]
        assert {s.getsockname()[1] for s in sockets} == {port}
        assert next(iter(workers[0])) is sockets[0]  # read again: the same socket
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            pass  # one of them accepted it into its queue
    finally:
        for worker in workers:
            for sock in worker:
                sock.close()


def test_a_port_held_without_reuse_port_is_refused() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with pytest.raises(OSError):
            bind("127.0.0.1", taken.getsockname()[1], 16)


def test_a_second_server_on_the_same_address_is_refused() -> None:
    port = _free_port()
    held = claim("127.0.0.1", port)
    try:
        with pytest.raises(OSError):
            claim("127.0.0.1", port)
        claim("127.0.0.1", port + 1).close()  # another address is free
    finally:
        held.close()
    claim("127.0.0.1", port).close()  # released with its holder
