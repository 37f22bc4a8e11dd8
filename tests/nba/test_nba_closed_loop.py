"""Closed-loop evaluation: the real decision code against the stepping simulator, both arms on one seed."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from evaluation.closed_loop import simulate_policy, usd_rates


@pytest.mark.slow
def test_small_world_runs_both_arms_lawfully_at_no_more_contacts() -> None:
    r = simulate_policy(days=5, profile="S", seed=7, n_customers=150)
    pol, lad = r["policy"], r["ladder"]
    assert r["customers"] == 150 and r["days"] == 5
    assert lad["contacts"] > 0 and pol["contacts"] > 0
    assert pol["violations"] == 0 and lad["violations"] == 0, (pol["violations_by_rule"], lad["violations_by_rule"])
    assert pol["contacts"] <= lad["contacts"]  # the policy's budget is the ladder's volume
    assert pol["dso_start"] == lad["dso_start"]  # same world on the same seed
    assert sum(pol["contacts_by_channel"].values()) == pol["contacts"]
    assert pol["collected_usd"] > 0 and lad["dso_end"] > 0
    json.dumps(r)  # the CLI prints it as one JSON object


@pytest.mark.slow
def test_arms_in_worker_processes_give_the_same_results() -> None:
    """workers=2 (policy and oracle in their own processes, fed the ladder's contacts) changes nothing."""
    kw = {"days": 4, "profile": "S", "seed": 7, "n_customers": 120, "oracle": True, "budget_share": 0.6}
    one, two = simulate_policy(**kw), simulate_policy(**kw, workers=2)
    one.pop("seconds"), two.pop("seconds")
    assert one["policy"]["contacts"] > 0 and one["oracle"]["contacts"] > 0
    assert json.dumps(one, sort_keys=True, default=str) == json.dumps(two, sort_keys=True, default=str)


def test_fx_rates_come_from_the_dbt_seed() -> None:
    rates = usd_rates()
    assert rates["USD"] == 1.0 and 0 < rates["COP"] < 0.01 and rates["EUR"] > 1
    assert Decimal(str(rates["MXN"])) > 0


@pytest.mark.slow
def test_cli_simulate_policy_prints_one_json_object(tmp_path, monkeypatch) -> None:
    from cli.app import app

    monkeypatch.setenv("COBRANZA_DATA_DIR", str(tmp_path))
    res = CliRunner().invoke(app, ["simulate-policy", "--days", "2", "--seed", "3", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["seed"] == 3 and out["policy"]["violations"] == 0 and "target_met" in out
    bad = CliRunner().invoke(app, ["simulate-policy", "--days", "0"])
    assert bad.exit_code == 1 and "--days must be positive" in bad.output


@pytest.mark.slow
def test_cli_runs_policy_ladder_and_oracle_per_seed_and_in_aggregate(tmp_path, monkeypatch) -> None:
    """Issue 22: one command, several seeds, the oracle arm, collectable and gross DSO, the share of the gain."""
    from cli.app import app
    from evaluation import closed_loop

    real = closed_loop.simulate_policy
    monkeypatch.setattr(closed_loop, "simulate_policy", lambda **kw: real(n_customers=120, **kw))  # a tiny world
    monkeypatch.setenv("COBRANZA_DATA_DIR", str(tmp_path))
    res = CliRunner().invoke(app, ["simulate-policy", "--days", "3", "--seeds", "3,5", "--oracle", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert [r["seed"] for r in out["runs"]] == [3, 5]
    for r in out["runs"]:
        for arm in ("policy", "ladder", "oracle"):
            a = r[arm]
            assert a["violations"] == 0 and a["dso_end_collectable"] <= a["dso_end"]
            assert a["contacts"] <= r["ladder"]["contacts"]
        assert "share_of_oracle_gain_collectable" in r and "decision_bar_met" in r
    agg = out["aggregate"]
    assert agg["ladder"]["contacts"] == sum(r["ladder"]["contacts"] for r in out["runs"])
    assert "share_of_oracle_gain_collectable_pooled" in agg and "decision_bar_met_every_seed" in agg
    bad = CliRunner().invoke(app, ["simulate-policy", "--seeds", "a,b"])
    assert bad.exit_code == 1 and "comma list of integers" in bad.output
