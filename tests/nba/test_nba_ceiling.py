"""The closed-loop ceiling bench (bench/nba_ceiling.py): an oracle arm that reads the simulator's ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from bench import nba_ceiling as nc
from ml.nba import bandit, engine, value
from simulator import stepping as st


@pytest.fixture(scope="module")
def market():
    return st.open_market("S", 7, n_customers=120, horizon_days=5)


def test_patched_swaps_the_estimates_and_always_restores_them(market) -> None:
    saved = bandit.thompson_draws, engine._amount_days_usd, value.p_pull
    oracle = nc.Oracle(market, market._day + 5, set())
    with pytest.raises(RuntimeError), nc.patched(oracle):
        assert bandit.thompson_draws == oracle.draws and engine._amount_days_usd == oracle.amount_days
        raise RuntimeError("boom")
    assert (bandit.thompson_draws, engine._amount_days_usd, value.p_pull) == saved
    with nc.patched(nc.Oracle(market, market._day + 5, {"nopayday"})):
        assert engine._amount_days_usd is saved[1]  # the policy's own USD-days
    with nc.patched(None):
        assert (bandit.thompson_draws, engine._amount_days_usd, value.p_pull) == saved


def test_oracle_pull_follows_the_reaction_model(market) -> None:
    oracle = nc.Oracle(market, market._day + 5, set())
    n = int(market.cust["n"])
    cust = np.arange(n)
    email = oracle.pull(cust, np.zeros(n, dtype=np.int64))
    assert ((email > 0) & (email < 1)).all()
    cls = market.cust["cls"]
    defaulted = (cls == 4) & (market.cust["default_day"] <= market._day + 1)
    if defaulted.any() and (cls == 0).any():
        assert email[defaulted].max() < email[cls == 0].mean()  # a defaulted customer rarely pays
    # without the class, customers with the same sensitivity get the same pull
    flat = nc.Oracle(market, market._day + 5, {"noclass"}).pull(cust, np.zeros(n, dtype=np.int64))
    same = np.isclose(market.cust["sens"][:, 0], market.cust["sens"][0, 0])
    assert np.allclose(flat[same], flat[same][0])
    with pytest.raises(ValueError, match="unknown modes"):
        nc.run(seed=7, days=1, mode={"bogus"}, n_customers=50)


@pytest.mark.slow
def test_small_run_stays_lawful_at_the_ladders_contact_count(tmp_path) -> None:
    r = nc.run(seed=7, days=3, mode=set(), n_customers=150, cache_dir=tmp_path, dump=tmp_path / "ar.csv")
    assert r["violations"] == [0, 0]
    assert 0 < r["contacts"][0] <= r["contacts"][1]
    assert (tmp_path / "ladder_S_n150_7_3.json").exists() and (tmp_path / "ar_ladder.csv").exists()
    again = nc.run(seed=7, days=3, mode={"policy"}, n_customers=150, cache_dir=tmp_path)  # ladder from the cache
    assert again["ladder"] == r["ladder"] and again["contacts"][0] <= again["contacts"][1]
