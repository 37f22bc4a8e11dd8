"""Promotion rule, aliases, idempotency and rollback on cheap registry entries (no model logging)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ml import registry

WINDOW = "2026-08-25..2026-11-22"
GOOD = {"roc_auc": 0.80, "baseline_logreg_roc_auc": 0.70, "baseline_prior_rate_roc_auc": 0.60}


def _metrics(auc: float) -> dict[str, float]:
    return {**GOOD, "roc_auc": auc}


def _new_version(tracking_uri: str, tmp_path: Path) -> str:
    client = registry.client(tracking_uri)
    if not client.search_registered_models(filter_string=f"name = '{registry.MODEL_NAME}'"):
        client.create_registered_model(registry.MODEL_NAME)
    return str(client.create_model_version(registry.MODEL_NAME, source=str(tmp_path)).version)


def _state(tracking_uri: str) -> tuple[dict[str, str], list[str]]:
    model = registry.client(tracking_uri).get_registered_model(registry.MODEL_NAME)
    history = json.loads(model.tags.get(registry.HISTORY_TAG, "[]"))
    return {k: str(v) for k, v in model.aliases.items()}, history


def test_thresholds() -> None:
    assert registry.threshold_failures(GOOD) == []
    assert registry.threshold_failures(_metrics(0.55))[0] == "AUC 0.550 is below the minimum 0.60"
    failures = registry.threshold_failures(_metrics(0.68))
    assert failures == ["AUC 0.680 does not beat the logreg baseline AUC 0.700"]
    # A missing prior-rate baseline (no such feature) is not a failure.
    assert registry.threshold_failures({"roc_auc": 0.8, "baseline_logreg_roc_auc": 0.7}) == []


@pytest.mark.parametrize(
    ("auc", "champion", "promote", "challenger", "reason"),
    [
        (0.80, None, True, False, "v3 AUC 0.800 passes thresholds on test window"),
        (0.65, None, False, False, "does not beat the logreg baseline"),
        # the first champion may trail a baseline by test-window noise (nothing is scored without one) ...
        (0.697, None, True, False, "becomes the first champion: AUC 0.697 does not beat the logreg baseline"),
        # ... but not by more, and never once a champion exists
        (0.694, None, False, False, "does not beat the logreg baseline AUC 0.700; no champion set"),
        (0.697, registry.ChampionScore("2", 0.69), False, False, "champion stays v2"),
        (0.812, registry.ChampionScore("2", 0.799), True, False, "v3 AUC 0.812 beats champion v2 AUC 0.799"),
        (0.78, registry.ChampionScore("2", 0.799), False, True, "does not beat champion v2 AUC 0.799"),
        (0.799, registry.ChampionScore("2", 0.799), False, True, "does not beat champion v2"),
        (0.65, registry.ChampionScore("2", 0.799), False, False, "champion stays v2"),
    ],
)
def test_decide_promotion(
    auc: float, champion: registry.ChampionScore | None, promote: bool, challenger: bool, reason: str
) -> None:
    decision = registry.decide_promotion("3", _metrics(auc), champion, WINDOW)
    assert (decision.promote, decision.challenger) == (promote, challenger)
    assert reason in decision.reason
    assert WINDOW in decision.reason


def test_no_champion(tracking_uri: str) -> None:
    assert not registry.champion_exists(tracking_uri)
    with pytest.raises(registry.NoChampionError, match="run `cobranza train` first"):
        registry.load_champion(tracking_uri)
    with pytest.raises(registry.NoChampionError):
        registry.rollback(tracking_uri)


def test_promote_rollback_and_idempotency(tracking_uri: str, tmp_path: Path) -> None:
    v1 = _new_version(tracking_uri, tmp_path)
    first = registry.promote(tracking_uri, v1, _metrics(0.75), champion=None, test_window=WINDOW)
    assert first.promote and registry.champion_version(tracking_uri) == v1
    with pytest.raises(ValueError, match="no previous champion"):
        registry.rollback(tracking_uri)

    # A worse candidate stays challenger; promoting it again changes nothing.
    v2 = _new_version(tracking_uri, tmp_path)
    champion_v1 = registry.ChampionScore(v1, 0.75)
    worse = registry.promote(tracking_uri, v2, _metrics(0.74), champion=champion_v1, test_window=WINDOW)
    assert not worse.promote and worse.challenger
    state = _state(tracking_uri)
    assert state == ({"champion": v1, "challenger": v2}, [])
    again = registry.promote(tracking_uri, v2, _metrics(0.74), champion=champion_v1, test_window=WINDOW)
    assert again == worse and _state(tracking_uri) == state

    # A better candidate becomes champion, the old one goes into the history, the challenger alias
    # on it is cleared; re-running is a no-op.
    better = registry.promote(tracking_uri, v2, _metrics(0.81), champion=champion_v1, test_window=WINDOW)
    assert better.promote and "beats champion v1" in better.reason
    assert _state(tracking_uri) == ({"champion": v2}, [v1])
    repeat = registry.promote(tracking_uri, v2, _metrics(0.81), champion=champion_v1, test_window=WINDOW)
    assert repeat.promote and repeat.reason == f"v{v2} is already champion"
    assert _state(tracking_uri) == ({"champion": v2}, [v1])

    # Promotion must be judged against the current champion, not a stale one.
    v3 = _new_version(tracking_uri, tmp_path)
    with pytest.raises(ValueError, match=f"champion is v{v2} but the candidate was compared with v{v1}"):
        registry.promote(tracking_uri, v3, _metrics(0.9), champion=champion_v1, test_window=WINDOW)
    registry.promote(tracking_uri, v3, _metrics(0.9), champion=registry.ChampionScore(v2, 0.81), test_window=WINDOW)
    assert _state(tracking_uri) == ({"champion": v3}, [v1, v2])

    # Rollback walks the history back, one step per call.
    assert registry.rollback(tracking_uri) == v2
    assert _state(tracking_uri) == ({"champion": v2}, [v1])
    assert registry.rollback(tracking_uri) == v1
    assert _state(tracking_uri) == ({"champion": v1}, [])
    with pytest.raises(ValueError, match="no previous champion"):
        registry.rollback(tracking_uri)
    tags = registry.client(tracking_uri).get_model_version(registry.MODEL_NAME, v3).tags
    assert tags["rolled_back"] == "true"
    assert "beats champion v2" in tags["promotion_decision"]


def test_champion_that_cannot_score_is_replaced() -> None:
    decision = registry.decide_promotion("3", GOOD, registry.ChampionScore("2", float("-inf")), WINDOW)
    assert decision.promote and "champion v2 cannot score these features" in decision.reason


def test_tracking_block_leaves_no_global_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere/mlflow.db")
    inside = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with registry.tracking(inside):
        assert mlflow.get_tracking_uri() == inside
        assert mlflow.get_registry_uri() == inside
    assert mlflow.get_tracking_uri() == "sqlite:////elsewhere/mlflow.db"
    assert "MLFLOW_REGISTRY_URI" not in os.environ


def test_no_champion_error_survives_pickling() -> None:
    """A process pool re-raises a worker's error from its pickle: the message must come back whole."""
    import pickle

    err = pickle.loads(pickle.dumps(registry.NoChampionError()))
    assert isinstance(err, registry.NoChampionError) and "run `cobranza train` first" in str(err)
