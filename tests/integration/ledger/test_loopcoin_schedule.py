"""The scheduled clearing round (docs/ledger.md): when it is due, and who coordinates."""

from __future__ import annotations

from typing import Any

from loopnode.services.ledger.clearing_round import coordinates

HOUR_US = 3600 * 1_000_000


def test_a_round_is_due_one_interval_after_the_last_claim_and_only_once(container: Any) -> None:
    def claim(now_us: int) -> bool:
        with container.uow(write=True) as uow:
            due: bool = uow.ledger.claim_round(now_us, 24 * HOUR_US)
            return due

    assert claim(0) is False  # the first look only starts the clock
    assert claim(23 * HOUR_US) is False
    assert claim(24 * HOUR_US) is True
    assert claim(24 * HOUR_US + 1) is False  # another worker, just after: already claimed
    assert claim(48 * HOUR_US) is True


def test_the_smallest_node_id_of_a_group_coordinates() -> None:
    assert coordinates("berlin.loop", ["munich.loop", "vienna.loop"])
    assert not coordinates("munich.loop", ["berlin.loop", "vienna.loop"])


def test_the_schedule_is_daily_by_default(node_settings: Any) -> None:
    assert node_settings.loopcoin_clearing_interval_h == 24
