"""One error tree: every deliberate error is a LoopError, and says whose fault it is."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import loopnode
from loopnode.config import SettingsError
from loopnode.domain import errors
from loopnode.domain.times import TimestampError
from loopnode.protocol.conformance import VectorFileError
from loopnode.protocol.keys import KeyFormatError
from loopnode.protocol.trust import TrustStoreError
from loopnode.services.coredp.messages import CoreDpRefusal
from loopnode.services.federation.ports import TransportError

# Control flow that never leaves its module, and the demo's own story check (not a node error).
OUTSIDE_THE_TREE = {
    "loopnode.services.idempotency._Replay",
    "loopnode.services.group_commit._Failed",
    "loopnode.demo.story.StoryFailed",
}


def _exception_classes() -> list[type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(loopnode.__path__, "loopnode."):
        if ".migrations" in info.name or info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__.startswith("loopnode."):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[name] for name in sorted(found) if name not in OUTSIDE_THE_TREE]


def test_every_error_the_node_defines_is_a_loop_error() -> None:
    strays = [c.__qualname__ for c in _exception_classes() if not issubclass(c, errors.LoopError)]
    assert strays == []


@pytest.mark.parametrize(
    ("cls", "parent"),
    [
        (TimestampError, errors.InvalidRequest),
        (KeyFormatError, errors.InvalidRequest),
        (VectorFileError, errors.InvalidRequest),
        (SettingsError, errors.ConfigurationError),
        (TrustStoreError, errors.ConfigurationError),
        (TransportError, errors.PeerUnreachable),
        (CoreDpRefusal, errors.LoopError),
    ],
)
def test_errors_that_were_plain_exceptions_join_the_tree(
    cls: type[Exception], parent: type[Exception]
) -> None:
    assert issubclass(cls, parent)


@pytest.mark.parametrize(
    "cls",
    [
        errors.InvalidRequest,
        errors.Unauthorized,
        errors.Forbidden,
        errors.NotFound,
        errors.Conflict,
        errors.RateLimited,
    ],
)
def test_the_sender_breaking_the_rules_is_a_peer_fault(cls: type[errors.LoopError]) -> None:
    assert cls("x").peer_fault is True


@pytest.mark.parametrize(
    "error",
    [
        errors.NodeFailure("x"),
        errors.ConfigurationError("x"),
        errors.StorageUnavailable("x"),
        errors.PeerUnreachable("timeout", "x"),
        TransportError("tls", "x"),
    ],
)
def test_our_own_failures_are_not_peer_faults(error: errors.LoopError) -> None:
    assert error.peer_fault is False
    assert error.code == "INTERNAL_ERROR"


def test_a_transport_error_keeps_its_reason_and_message() -> None:
    error = TransportError("timeout", "no answer within 5 s")
    assert (error.reason, error.message, error.details) == (
        "timeout",
        "no answer within 5 s",
        {"reason": "timeout"},
    )


@pytest.mark.parametrize(
    ("code", "peer_fault"),
    [("schema_invalid", True), ("duplicate", True), ("timeout", False), ("internal_error", False)],
)
def test_a_core_dp_refusal_says_the_fault_by_its_code(code: str, peer_fault: bool) -> None:
    refusal = CoreDpRefusal(code, "m", {"k": 1})  # type: ignore[arg-type]
    assert refusal.peer_fault is peer_fault
    assert refusal.code == code
    assert refusal.body("corr_1")["code"] == code
