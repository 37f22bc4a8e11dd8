"""Channel response rates learned from outcomes: Thompson sampling on Beta posteriors (DESIGN.md §7).

A trial is an outbound contact on a channel (email, whatsapp, sms, call); a success is an outbound
contact whose logged outcome shows the customer engaged (``replied``, ``promise_to_pay`` or
``paid_claim``). Counts are decayed exponentially with age (half-life ``half_life_days``), so the
posteriors follow drifting behaviour and are recomputed from the interaction log every day.

Two levels, so small customers borrow strength from their segment:

* segment x channel: ``Beta(prior_a + s_seg, prior_b + f_seg)``;
* customer x channel: a prior centred on the segment's rate for the channel times the customer's own
  responsiveness, scaled to ``segment_weight`` pseudo-trials, plus the customer's own decayed counts
  on that channel. A customer never contacted on a channel gets that prior at the reduced weight,
  which keeps exploring it.

The customer's responsiveness (issue 22: who is contacted matters more than how often) is learned
from his history on the *other* channels, empirical-Bayes style (a Poisson-gamma shrinkage of
observed over expected engagements): ``(successes + k) / (expected + k)``, where ``expected`` is the
sum of his decayed trials on the other channels times the segment's rate for each, and ``k`` =
``customer_weight`` pseudo-engagements pull it towards 1 (the segment) when he has little history.
A customer who answers e-mails is then expected to answer a call more than his segment does, and one
who ignored ten reminders less. Only the interaction log is used (what the CRM holds). It is off by
default (``customer_weight=0``): on the simulated worlds a customer's channel sensitivities are drawn
independently, and the factor lowered the correlation of the posterior means with the true P(pull)
(seed 7, S, first day: 0.02-0.26 per channel without it, 0.02-0.20 with it); what predicts who pays
after a contact is his payment record (:func:`ml.nba.value.pay_after_engaging`).

Sampling is reproducible: the draws for a decision use a generator seeded from ``(seed, as_of)``
and are taken in customer order, so a re-run of the same day decides the same. How wide the draws
are is ``exploration`` (tempered Thompson sampling); by default 0, the posterior means (issue 22:
under a contact budget the draws' noise cost more than the exploration earned).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

CHANNELS = ("email", "whatsapp", "sms", "call")
SUCCESS_OUTCOMES = ("replied", "promise_to_pay", "paid_claim")


@dataclass(frozen=True)
class BanditParams:
    """Priors and memory of the response model.

    Attributes:
        prior_a: Beta prior successes per segment x channel.
        prior_b: Beta prior failures per segment x channel.
        half_life_days: Age at which an outcome counts half.
        segment_weight: Pseudo-trials the segment posterior contributes to a customer's posterior.
        window_days: Outcomes older than this are ignored.
        customer_weight: Pseudo-engagements shrinking the customer's cross-channel responsiveness
            towards his segment's (0 turns the cross-channel factor off).
        max_factor: Cap on that factor (and ``1 / max_factor`` its floor).
        exploration: Width of the Thompson draws, as a share of the posterior's variance (tempered
            Thompson sampling: each draw is from Beta(alpha / e, beta / e), same mean, about e times
            the variance); 1 is plain Thompson sampling, 0 ranks by the posterior means. 0 by default
            (issue 22): with a contact budget far below the accounts worth a contact, the draws' spread
            (6 pseudo-trials) decided who was contacted more than the customers' learnt response did;
            ranking by the means lowered the collectable DSO on each of 5 simulated worlds (S, 90 days,
            bench/RESULTS.md 2026-12-06). Exploration still comes from the segment prior a customer
            never contacted on a channel gets, and the learning from every contact made.
    """

    prior_a: float = 1.0
    prior_b: float = 4.0
    half_life_days: float = 90.0
    segment_weight: float = 6.0
    window_days: int = 365
    customer_weight: float = 0.0
    max_factor: float = 6.0
    exploration: float = 0.0


DEFAULT_BANDIT = BanditParams()


def response_counts(
    interactions: pd.DataFrame, segments: pd.Series, as_of: date, params: BanditParams = DEFAULT_BANDIT
) -> pd.DataFrame:
    """Decayed trials and successes per customer x channel from the interaction log.

    Args:
        interactions: customer_id, channel, direction, occurred_at, outcome.
        segments: customer_id -> segment.
        as_of: Day the counts are for (later interactions are ignored).
        params: Memory parameters.

    Returns:
        customer_id, segment, channel, trials, successes (floats, decayed).
    """
    cols = ["customer_id", "segment", "channel", "trials", "successes"]
    if interactions is None or interactions.empty:
        return pd.DataFrame(columns=cols)
    it = interactions[interactions["direction"].astype(str) == "outbound"]
    it = it[it["channel"].astype(str).isin(CHANNELS)]
    at = pd.to_datetime(it["occurred_at"], utc=True)
    age = (pd.Timestamp(as_of, tz="UTC") + pd.Timedelta(days=1) - at).dt.total_seconds() / 86400.0
    keep = (age >= 0) & (age <= params.window_days)
    it, age = it[keep], age[keep]
    if it.empty:
        return pd.DataFrame(columns=cols)
    w = np.power(0.5, age.to_numpy() / params.half_life_days)
    frame = pd.DataFrame(
        {
            "customer_id": it["customer_id"].astype(str).to_numpy(),
            "channel": it["channel"].astype(str).to_numpy(),
            "trials": w,
            "successes": w * it["outcome"].astype(str).isin(SUCCESS_OUTCOMES).to_numpy(),
        }
    )
    out = frame.groupby(["customer_id", "channel"], as_index=False)[["trials", "successes"]].sum()
    seg = segments.copy()
    seg.index = seg.index.astype(str)
    out["segment"] = out["customer_id"].map(seg).fillna("unknown").astype(str)
    return out[cols]


def segment_posteriors(counts: pd.DataFrame, params: BanditParams = DEFAULT_BANDIT) -> pd.DataFrame:
    """Beta(alpha, beta) per segment x channel (every channel present for every segment seen)."""
    segs = sorted(set(counts["segment"])) if len(counts) else []
    grid = pd.MultiIndex.from_product([segs or ["unknown"], CHANNELS], names=["segment", "channel"])
    agg = counts.groupby(["segment", "channel"])[["trials", "successes"]].sum().reindex(grid, fill_value=0.0)
    agg["alpha"] = params.prior_a + agg["successes"]
    agg["beta"] = params.prior_b + agg["trials"] - agg["successes"]
    agg["mean"] = agg["alpha"] / (agg["alpha"] + agg["beta"])
    return agg.reset_index()


def customer_posteriors(
    customers: pd.DataFrame, counts: pd.DataFrame, params: BanditParams = DEFAULT_BANDIT
) -> pd.DataFrame:
    """Beta(alpha, beta) per customer x channel for the customers to decide on.

    Args:
        customers: customer_id, segment.
        counts: Output of :func:`response_counts`.
        params: Priors.

    Returns:
        customer_id, channel, alpha, beta, trials (the customer's own, decayed).
    """
    seg = segment_posteriors(counts, params)
    seg_mean = seg.set_index(["segment", "channel"])["mean"]
    base = customers[["customer_id", "segment"]].astype({"customer_id": str}).copy()
    base["segment"] = base["segment"].fillna("unknown").astype(str)
    grid = base.merge(pd.DataFrame({"channel": CHANNELS}), how="cross")
    keys = pd.MultiIndex.from_arrays([grid["segment"], grid["channel"]])
    prior_mean = seg_mean.reindex(keys).to_numpy(dtype=float)
    grid["prior_mean"] = np.where(np.isnan(prior_mean), params.prior_a / (params.prior_a + params.prior_b), prior_mean)
    own = counts[["customer_id", "channel", "trials", "successes"]] if len(counts) else None
    if own is not None:
        grid = grid.merge(own, on=["customer_id", "channel"], how="left")
    else:
        grid["trials"], grid["successes"] = 0.0, 0.0
    grid[["trials", "successes"]] = grid[["trials", "successes"]].fillna(0.0).astype(float)
    grid["prior_mean"] = _responsiveness(grid, params) * grid["prior_mean"]
    grid["alpha"] = params.segment_weight * grid["prior_mean"] + grid["successes"]
    grid["beta"] = params.segment_weight * (1 - grid["prior_mean"]) + grid["trials"] - grid["successes"]
    return grid[["customer_id", "channel", "alpha", "beta", "trials"]]


def _responsiveness(grid: pd.DataFrame, params: BanditParams) -> np.ndarray:
    """Per grid row, the customer's engagement over what his segment would show on his other channels.

    Leave-one-channel-out, so the channel's own counts are not counted twice (they enter its
    posterior directly); clipped to [1 / max_factor, max_factor] and capped so that the prior mean
    stays below 0.95.
    """
    if params.customer_weight <= 0 or grid.empty:
        return np.ones(len(grid))
    expected = (grid["trials"] * grid["prior_mean"]).to_numpy()
    succ = grid["successes"].to_numpy()
    cust = grid["customer_id"].to_numpy()
    tot_exp = pd.Series(expected).groupby(cust).transform("sum").to_numpy()
    tot_succ = pd.Series(succ).groupby(cust).transform("sum").to_numpy()
    k = params.customer_weight
    factor = (tot_succ - succ + k) / (tot_exp - expected + k)
    factor = np.clip(factor, 1.0 / params.max_factor, params.max_factor)
    prior = grid["prior_mean"].to_numpy()
    return np.minimum(factor, 0.95 / np.maximum(prior, 1e-9))


def thompson_draws(posteriors: pd.DataFrame, seed: int, as_of: date, exploration: float = 1.0) -> pd.Series:
    """One Beta draw per row of ``posteriors`` (customer x channel), reproducible per (seed, day).

    Args:
        posteriors: customer_id, channel, alpha, beta.
        seed: Seed of the draws (combined with the day).
        as_of: Day of the decision.
        exploration: :attr:`BanditParams.exploration`: draws from Beta(alpha / e, beta / e); 0 returns
            the posterior means.

    Returns:
        Series of response-rate samples aligned with ``posteriors``.
    """
    alpha = np.maximum(posteriors["alpha"].to_numpy(dtype=float), 1e-6)
    beta = np.maximum(posteriors["beta"].to_numpy(dtype=float), 1e-6)
    if exploration <= 0:
        return pd.Series(alpha / (alpha + beta), index=posteriors.index)
    alpha, beta = alpha / exploration, beta / exploration
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, as_of.toordinal()])
    order = np.lexsort((posteriors["channel"].to_numpy(), posteriors["customer_id"].to_numpy()))
    draws = np.empty(len(posteriors))
    draws[order] = rng.beta(np.maximum(alpha[order], 1e-6), np.maximum(beta[order], 1e-6))
    return pd.Series(draws, index=posteriors.index)
