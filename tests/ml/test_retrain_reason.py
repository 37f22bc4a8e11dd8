"""ml.registry.retrain_reason: the one rule for "retrain today" (drift flagged, or the champion's age)."""

from __future__ import annotations

from datetime import date

from ml.registry import retrain_reason

AS_OF = date(2026, 11, 23)


def test_no_champion_retrains() -> None:
    assert (
        retrain_reason(champion_version=None, champion_snapshot=None, drifted=[], as_of=AS_OF, retrain_after_days=7)
        == "no champion yet"
    )


def test_a_recent_champion_stays_and_an_old_one_retrains() -> None:
    kw = {"champion_version": "3", "drifted": [], "as_of": AS_OF, "retrain_after_days": 7}
    assert retrain_reason(champion_snapshot=date(2026, 11, 17), **kw) is None  # 6 days old
    assert retrain_reason(champion_snapshot=date(2026, 11, 16), **kw) == "champion trained on 2026-11-16"


def test_drift_retrains_even_a_fresh_champion() -> None:
    why = retrain_reason(
        champion_version="3",
        champion_snapshot=AS_OF,
        drifted=["__score__", "f_amount"],
        as_of=AS_OF,
        retrain_after_days=7,
    )
    assert why == "drift flagged for champion v3: __score__, f_amount"
