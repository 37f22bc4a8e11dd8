"""The oracle arm of the closed loop: the real engine fed the simulator's ground truth (evaluation only).

The policy never reads the ground truth, and nothing on the product path may import this module
(``flows/``, ``ml/``, ``connectors/``, ``cli`` outside ``simulate-policy``):
``tests/evaluation/test_oracle_isolation.py`` checks the import graph. It gives the ceiling the
policy is judged against (issue 22): the best a policy working through the same lawful contacts,
the same suppression, agent capacity and contact budget can do when it knows each customer's latent
class, channel sensitivities, default and insolvency, and the latent payment day of every invoice.

:class:`Oracle` replaces the estimates the engine's value is made of, for the duration of one
decision (:func:`patched`):

* P(the customer pays because of the contact), before fatigue, per (customer, channel): from his
  latent class, channel sensitivity and default, with the reaction model of
  ``simulator.stepping.Market._react`` (reply -> dispute / promise kept / pays; no reply -> nudge;
  bounces; ~85% of the contacted invoices acted on; a defaulted customer who answers a call pays
  with probability 0.35 before insolvency, x0.1 otherwise); the engine's fatigue multiplies it, as the simulator's does;
* the USD-days a contact pulls forward: per covered invoice, remaining amount x
  (min(latent payment day, end + 30) - max(due date, today + 6))+, the latent payment day read from
  the market after earlier contacts moved it (``end`` mode: what would still be open on the last day
  and can be paid by then, x 30 days, plus a tenth of the former as a tie-break);
* the value of an escalation (legal letter, credit hold): the true P(pays its overdue invoices) of
  ``simulator.stepping.ESC_PAY`` x the USD-days of the overdue invoices / the value horizon - cost.

Ablation modes: ``noclass`` (population-average class factors, no default flag), ``nosens``
(population-mean channel sensitivity), ``nopayday`` (the policy's own USD-days).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from ml.nba import bandit, engine, value
from ml.nba.value import NbaConfig
from simulator import stepping as st

MODES = ("end", "noclass", "nosens", "nopayday")
_CHANNEL = {name: i for i, name in enumerate(st.CHANNELS)}
TAKE_SHARE = st.ALL_INVOICES_SHARE + (1 - st.ALL_INVOICES_SHARE) * 0.5  # invoices of a contact acted on
PAY_LAG_DAYS = 6  # a paying customer's typical delay after the contact (promise ~8, pays ~4, nudge ~7)
ESC_LAG_DAYS = 9  # an escalation's payment comes 3-14 days after it


class Oracle:
    """Ground-truth estimates for the engine, read from one market."""

    def __init__(self, market: Any, end_day: int, mode: set[str] | None = None) -> None:
        self.market = market
        self.end = end_day
        self.mode = set(mode or ())
        unknown = self.mode - set(MODES)
        if unknown:
            raise ValueError(f"unknown oracle modes {sorted(unknown)}; use {', '.join(MODES)}")
        n = int(market.cust["n"])
        ids = market._v_all.cust(np.arange(n)).to_numpy(zero_copy_only=False)
        self.index = {str(c): i for i, c in enumerate(ids)}

    def _default_state(self, cust_i: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m, t = self.market, self.market._day + 1
        day = m.cust["default_day"][cust_i].astype(np.int64)
        defaulted = (m.cust["cls"][cust_i] == 4) & (day <= t)
        return defaulted, defaulted & (day + st.INSOLVENCY_DAYS <= t)

    def pull(self, cust_i: np.ndarray, ch: np.ndarray) -> np.ndarray:
        """P(pays because of the contact), before fatigue, per (customer index, channel index)."""
        m = self.market
        cls = m.cust["cls"][cust_i]
        factors = (st.CLASS_RESPONSE, st.CLASS_DISPUTE, st.CLASS_KEEP_PROMISE, st.CLASS_PAY_ON_REPLY, st.CLASS_NUDGE)
        if "noclass" in self.mode:
            everyone = m.cust["cls"]
            resp, disp, keep, pay, nudge = (np.full(cust_i.size, float(f[everyone].mean())) for f in factors)
            mult = np.ones(cust_i.size)
        else:
            resp, disp, keep, pay, nudge = (f[cls] for f in factors)
            defaulted, insolvent = self._default_state(cust_i)
            called = defaulted & (ch == st.CH_CALL) & ~insolvent
            mult = np.where(defaulted, np.where(called, 0.5, st.AFTER_DEFAULT), 1.0)
            keep = np.where(called, st.AFTER_DEFAULT_CALL / mult, keep)  # x mult below
            pay = np.where(called, st.AFTER_DEFAULT_CALL / mult, pay)
        sens = m.cust["sens"].mean(axis=0)[ch] if "nosens" in self.mode else m.cust["sens"][cust_i, ch]
        p_resp = np.minimum(sens * resp, 0.95)
        replied = p_resp * (1 - disp) * (st.PROMISE_SHARE * keep + (1 - st.PROMISE_SHARE) * pay)
        nudged = (1 - p_resp) * nudge * np.minimum(sens / 0.3, 2.0)
        return TAKE_SHARE * (1 - st.BOUNCE[ch]) * (replied + nudged) * mult

    def draws(self, post: pd.DataFrame, seed: int, as_of: Any, exploration: float = 1.0) -> pd.Series:
        """Stands in for :func:`ml.nba.bandit.thompson_draws`: the true P(pull) per posterior row."""
        ci = post["customer_id"].astype(str).map(self.index).to_numpy(dtype=np.int64)
        ch = post["channel"].astype(str).map(_CHANNEL).to_numpy(dtype=np.int64)
        return pd.Series(self.pull(ci, ch), index=post.index)

    def _days(self, items: list[dict], lag: int) -> tuple[np.ndarray, np.ndarray]:
        m, t = self.market, self.market._day + 1
        idx = np.array([int(str(i["invoice_id"]).removeprefix("inv_")) - 1 for i in items], dtype=np.int64)
        p0 = m._part0[idx]
        latent = np.where(p0 >= 0, m.parts["day"][np.maximum(p0, 0)], st.NEVER).astype(np.int64)
        paid_at = np.maximum(t + lag, m.inv["due"][idx].astype(np.int64))
        days = np.clip(np.minimum(latent, self.end + 30) - paid_at, 0, None).astype(float)
        if "end" in self.mode:
            days = 30.0 * ((latent > self.end) & (paid_at <= self.end)) + 0.1 * days
        return idx, days

    def amount_days(self, acc: pd.DataFrame, cfg: NbaConfig) -> pd.Series:
        """Stands in for the engine's USD-days per account: latent payment days instead of lateness."""
        out = []
        for invs, up, cur in zip(acc["invoices"], acc["upcoming"], acc["currency"], strict=True):
            items = list(invs) + list(up)
            if not items:
                out.append(0.0)
                continue
            _, days = self._days(items, PAY_LAG_DAYS)
            usd = np.array([float(i["amount_open"]) for i in items]) * cfg.usd_rates[str(cur)]
            out.append(float((usd * days).sum()))
        return pd.Series(out, index=acc.index, dtype=float)

    def escalation_gain(self, acc: pd.DataFrame, legal: pd.Series, cfg: NbaConfig) -> np.ndarray:
        """Stands in for :func:`ml.nba.value.escalation_gain`: true P(pays) x USD-days of the overdue invoices."""
        ci = acc["customer_id"].astype(str).map(self.index).to_numpy(dtype=np.int64)
        cls = self.market.cust["cls"][ci]
        defaulted, insolvent = self._default_state(ci)
        lg = np.asarray(legal, dtype=bool)
        p = np.where(lg, st.ESC_PAY["legal"][cls], st.ESC_PAY["credit_hold"][cls])
        after = np.where(lg, st.ESC_AFTER_DEFAULT["legal"], st.ESC_AFTER_DEFAULT["credit_hold"])
        p = p * np.where(defaulted, after, 1.0) * np.where(insolvent, st.AFTER_DEFAULT, 1.0)
        usd_days = []
        for invs, cur in zip(acc["invoices"], acc["currency"], strict=True):
            items = list(invs)
            if not items:
                usd_days.append(0.0)
                continue
            _, days = self._days(items, ESC_LAG_DAYS)
            usd = np.array([float(i["amount_open"]) for i in items]) * cfg.usd_rates[str(cur)]
            usd_days.append(float((usd * days).sum()))
        cost = np.where(lg, cfg.cost("escalate"), cfg.cost("escalate") / 4)
        return p * np.asarray(usd_days) / cfg.value_horizon_days - cost


def arm_config(cfg: NbaConfig) -> NbaConfig:
    """The oracle arm's configuration: the policy's, less the heuristic that stands in for a truth it knows.

    ``stopped_paying_factor`` guesses from the payment record which accounts defaulted; the oracle's
    P(pull) and escalation value already carry each customer's default and insolvency, so the cut would
    count them twice (issue 22).
    """
    return replace(cfg, stopped_paying_factor=1.0)


@contextlib.contextmanager
def patched(oracle: Oracle | None) -> Iterator[None]:
    """Make the engine use the oracle's estimates for one decision (a no-op without an oracle)."""
    if oracle is None:
        yield
        return
    saved = bandit.thompson_draws, engine._amount_days_usd, value.p_pull, value.escalation_gain
    bandit.thompson_draws = oracle.draws
    if "nopayday" not in oracle.mode:
        engine._amount_days_usd = oracle.amount_days
    value.p_pull = lambda response, fat, pay_on_response: response * fat  # the draws already include paying
    value.escalation_gain = oracle.escalation_gain
    try:
        yield
    finally:
        bandit.thompson_draws, engine._amount_days_usd, value.p_pull, value.escalation_gain = saved
