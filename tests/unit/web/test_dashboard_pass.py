"""The dashboard page pass (web/dashboard_pass.py): bound to an address, short-lived, unforged."""

from __future__ import annotations

from loopnode.web.dashboard_pass import TTL_S, DashboardPasses


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_pass_is_valid_for_its_address_until_it_expires() -> None:
    clock = Clock()
    passes = DashboardPasses(lambda: b"\x01" * 32, clock)
    issued = passes.issue("198.51.100.7")
    assert passes.valid(issued, "198.51.100.7")
    assert not passes.valid(issued, "198.51.100.8")
    clock.now += TTL_S
    assert not passes.valid(issued, "198.51.100.7")


def test_a_pass_cannot_be_altered_or_invented() -> None:
    clock = Clock()
    passes = DashboardPasses(lambda: b"\x01" * 32, clock)
    issued = passes.issue("198.51.100.7")
    expires, mac = issued.split(".")
    assert not passes.valid(f"{int(expires) + 60}.{mac}", "198.51.100.7")  # a longer life
    assert not passes.valid(f"{expires}.{mac[:-1]}A", "198.51.100.7")
    far = int(clock.now) + 10 * TTL_S
    for invented in ("", ".", "abc.def", f"{far}.{mac}", "1" * 40 + ".x"):
        assert not passes.valid(invented, "198.51.100.7")


def test_every_process_of_one_node_agrees_and_other_nodes_do_not() -> None:
    clock = Clock()
    one, two = (DashboardPasses(lambda: b"\x01" * 32, clock) for _ in range(2))
    other = DashboardPasses(lambda: b"\x02" * 32, clock)
    issued = one.issue("198.51.100.7")
    assert two.valid(issued, "198.51.100.7")
    assert not other.valid(issued, "198.51.100.7")
    keyless = DashboardPasses(lambda: None, clock)  # a random key per process
    assert keyless.valid(keyless.issue("x"), "x")
    assert not DashboardPasses(lambda: None, clock).valid(keyless.issue("x"), "x")
