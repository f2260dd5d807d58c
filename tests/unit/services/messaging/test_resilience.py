"""Backoff, circuit breakers and response classification (services/federation/resilience.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loopnode.services.messaging.resilience import (
    Outcome,
    RetryPolicy,
    backoff_s,
    breaker_allows,
    breaker_failure,
    breaker_success,
    breaker_view,
    classify,
)

POLICY = RetryPolicy(base_s=1, cap_s=60, breaker_threshold=3, cooldown_s=10, cooldown_cap_s=40)
US = 1_000_000


@given(st.integers(1, 200), st.floats(0, 1))
def test_backoff_stays_between_half_and_all_of_the_capped_exponential(
    attempt: int, jitter: float
) -> None:
    ceiling = min(POLICY.cap_s, POLICY.base_s * 2 ** (attempt - 1))
    delay = backoff_s(attempt, POLICY, lambda: jitter)
    assert ceiling / 2 <= delay <= ceiling <= POLICY.cap_s


@given(st.integers(1, 60))
def test_backoff_never_shrinks_from_one_attempt_to_the_next_for_a_fixed_jitter(
    attempt: int,
) -> None:
    assert backoff_s(attempt, POLICY, lambda: 0.5) <= backoff_s(attempt + 1, POLICY, lambda: 0.5)


def test_backoff_doubles_until_the_cap() -> None:
    delays = [backoff_s(n, POLICY, lambda: 1.0) for n in range(1, 9)]
    assert delays == [1, 2, 4, 8, 16, 32, 60, 60]


def test_a_broken_jitter_source_cannot_escape_the_bounds() -> None:
    assert backoff_s(3, POLICY, lambda: 7.0) == 4
    assert backoff_s(3, POLICY, lambda: -3.0) == 2


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (202, Outcome.DELIVERED),
        (400, Outcome.DEAD),
        (404, Outcome.DEAD),
        (409, Outcome.DEAD),
        (413, Outcome.DEAD),
        (401, Outcome.RETRY),
        (403, Outcome.RETRY),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (503, Outcome.RETRY),
    ],
)
def test_answers_are_classified_by_whether_resending_can_help(
    status: int, outcome: Outcome
) -> None:
    assert classify(status) is outcome


def test_the_breaker_opens_at_the_threshold_and_half_opens_after_the_cooldown() -> None:
    row = None
    for _ in range(2):
        row = breaker_failure(row, "b.loop", 0, POLICY)
        assert row.state == "closed" and breaker_allows(row, 0)
    row = breaker_failure(row, "b.loop", 0, POLICY)
    assert row.state == "open" and row.open_until_us == 10 * US
    assert not breaker_allows(row, 10 * US - 1)
    assert breaker_allows(row, 10 * US)
    assert breaker_view(row, 10 * US) == "half_open"


def test_failures_while_open_double_the_cooldown_up_to_its_cap() -> None:
    row = None
    cooldowns = []
    for _ in range(6):
        row = breaker_failure(row, "b.loop", 0, POLICY)
        if row.state == "open":
            cooldowns.append(row.open_until_us)
    assert cooldowns == [10 * US, 20 * US, 40 * US, 40 * US]


def test_a_success_closes_the_breaker() -> None:
    assert breaker_allows(None, 0)
    closed = breaker_success("b.loop", 5)
    assert (closed.state, closed.failures, closed.open_until_us) == ("closed", 0, None)
