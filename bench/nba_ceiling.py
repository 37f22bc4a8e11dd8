"""Ceiling of the closed loop (issue 6): an oracle that knows the simulator's ground truth picks the contacts.

Evaluation only; the policy never reads the ground truth. Same loop as ``cobranza simulate-policy``
(:func:`evaluation.closed_loop.simulate_policy`): a policy arm and the static ladder on the same seed,
the policy arm's contacts (delivered + queued) capped at the ladder's, every delivered contact
re-checked by :func:`ml.nba.compliance.check_contact`. The oracle arm runs the real engine
(:func:`ml.nba.engine.decide`: the same lawful candidates, suppression, agent capacity, daily budget
ranked by value) but replaces the two estimates the value is made of with the truth of the policy
arm's market:

* P(the customer pays because of the contact) per (customer, channel), before fatigue: from his
  latent class, his channel sensitivity ``market.cust["sens"]`` and whether he has defaulted, with
  the reaction model of ``simulator.stepping._react`` (reply -> dispute / promise kept / pays; no
  reply -> nudge; bounces; ~85% of the contacted invoices acted on); the engine's fatigue
  ``1 / (1 + 0.5 x contacts in 14 days)`` multiplies it, as the simulator's does;
* the USD-days a contact pulls forward: per covered invoice, remaining amount x
  (min(latent payment day, end + 30) - max(due date, today + 6))+, with the latent payment day read
  from the market (after earlier contacts moved it). ``--mode end`` counts instead what would still
  be open on the last day and can be paid by then (x 30 days), plus a tenth of the former as a
  tie-break: the end-of-period DSO is what the issue's bar measures.

Ablations (``--mode`` comma list): ``noclass`` (population-average class factors, no default flag),
``nosens`` (population-mean channel sensitivity), ``nopayday`` (the policy's own USD-days from the
observed lateness), ``nobudget`` (no cap at the ladder's contact count: what lawful contacting can move
at all), ``policy`` (no oracle: the committed policy, to check the driver reproduces the CLI).

The ladder arm does not depend on the policy arm, so its per-day contact counts and result can be
cached (``--cache-dir``) and reused by later runs on the same seed, profile and days. ``--draw-seed``
changes only the seed of the policy's Thompson draws (how much of a result is luck of the draws).

    nice -n 10 .venv/bin/python -m bench.nba_ceiling --seed 7 --days 90 --mode end --cache-dir /tmp/i6
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time
from dataclasses import asdict, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.harness import machine
from evaluation import closed_loop as cl
from evaluation import oracle as oracle_mod
from ml.nba.value import NbaConfig
from simulator import profiles as sim_profiles
from simulator import stepping as st

MODES = (*oracle_mod.MODES, "nobudget", "policy")
Oracle = oracle_mod.Oracle  # the oracle lives in evaluation/ (issue 22); kept importable from here
patched = oracle_mod.patched


def run(
    *,
    seed: int,
    days: int,
    mode: set[str],
    profile: str = "S",
    cache_dir: Path | None = None,
    draw_seed: int | None = None,
    dump: Path | None = None,
    n_customers: int | None = None,
    overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One closed-loop run with the oracle arm (or the plain policy with ``policy``) against the ladder."""
    unknown = mode - set(MODES)
    if unknown:
        raise ValueError(f"unknown modes {sorted(unknown)}; use {', '.join(MODES)}")
    start = st.DEFAULT_AS_OF
    base = replace(NbaConfig(), **(overrides or {}))
    base = replace(base, usd_rates={**cl.usd_rates(as_of=start), **dict(base.usd_rates)}, seed=seed)

    def market():
        return st.open_market(profile, seed, as_of=start, n_customers=n_customers, horizon_days=days + 5)

    pol = cl._Arm("policy", market(), replace(base, control_share=0.0, seed=seed if draw_seed is None else draw_seed))
    size = "" if n_customers is None else f"_n{n_customers}"
    cache = cache_dir / f"ladder_{profile}{size}_{seed}_{days}.json" if cache_dir else None
    cached = json.loads(cache.read_text()) if cache is not None and cache.exists() else None
    lad = None if cached else cl._Arm("ladder", market(), replace(base, control_share=1.0))
    oracle = None if "policy" in mode else Oracle(pol.market, pol.market._day + days, mode & set(oracle_mod.MODES))
    counts: dict[str, int] = {}
    advance = pol.market.advance

    def counted(contacts: pd.DataFrame | None = None, escalations: pd.DataFrame | None = None) -> Any:
        if contacts is not None:
            for cid, n in contacts["customer_id"].astype(str).value_counts().items():
                counts[cid] = counts.get(cid, 0) + int(n)
        return advance(contacts, escalations)

    pol.market.advance = counted
    ar_start = customer_ar(pol.market)
    allowed_by_day: list[int] = []
    t0 = time.perf_counter()
    for i in range(days):
        if lad is not None:
            lad.step()
            allowed_by_day.append(lad.result.contacts)  # delivered: the policy never exceeds it (issue 22)
        allowed = allowed_by_day[i] if lad is not None else cached["allowed"][i]
        used = pol.result.contacts + len(pol.queue)
        with patched(oracle):
            pol.step(None if "nobudget" in mode else max(allowed - used, 0))
        if (i + 1) % 10 == 0:
            elapsed = time.perf_counter() - t0
            logging.info("day %d/%d %.0f s policy-arm DSO %.1f", i + 1, days, elapsed, pol.market.dso())
    since = start + timedelta(days=1)
    p = asdict(pol.finish(since))
    if lad is not None:
        cached = {"allowed": allowed_by_day, "result": asdict(lad.finish(since))}
        if dump is not None:  # the ladder arm's too, when it ran live
            customer_ar(lad.market).to_csv(dump.with_name(f"{dump.stem}_ladder.csv"), index=False)
        if cache is not None:
            cache.write_text(json.dumps(cached))
    ladder = cached["result"]
    if dump is not None:
        per = customer_ar(pol.market).rename(columns={"ar_usd": "ar_end_usd"})
        per["ar_start_usd"] = ar_start["ar_usd"].to_numpy()
        per["contacts"] = per["customer_id"].map(counts).fillna(0).astype(int)
        per.to_csv(dump, index=False)
    return {
        "profile": profile,
        "seed": seed,
        "days": days,
        "mode": sorted(mode) or ["oracle"],
        "draw_seed": seed if draw_seed is None else draw_seed,
        "overrides": overrides or {},
        "dso_end": [round(p["dso_end"], 2), round(ladder["dso_end"], 2)],
        "dso_reduction_end": round(1 - p["dso_end"] / ladder["dso_end"], 4),
        "dso_reduction_mean": round(1 - p["dso_mean"] / ladder["dso_mean"], 4),
        "contacts": [p["contacts"], ladder["contacts"]],
        "violations": [p["violations"], ladder["violations"]],
        "collected_usd": [round(p["collected_usd"]), round(ladder["collected_usd"])],
        "ar_end_usd_m_policy_arm": ar_breakdown(pol.market),
        "policy": p,
        "ladder": ladder,
        "seconds": round(time.perf_counter() - t0, 1),
        "machine": machine(),
    }


def _ar_usd(market: Any) -> np.ndarray:
    """Ground-truth receivables today per invoice in USD (``Market.receivables`` is in minor units)."""
    rate = np.array([c.usd_rate for c in sim_profiles.COUNTRIES])[market.cust["country"][market.inv["cust"]]]
    return market.receivables() / rate / 100.0


def customer_ar(market: Any) -> pd.DataFrame:
    """Ground-truth receivables today per customer in USD, with the latent class and default day."""
    n = int(market.cust["n"])
    return pd.DataFrame(
        {
            "customer_id": market._v_all.cust(np.arange(n)).to_numpy(zero_copy_only=False),
            "latent_class": np.array(sim_profiles.LATENT_CLASSES, dtype=object)[market.cust["cls"]],
            "default_in_days": market.cust["default_day"].astype(np.int64) - market._day,
            "ar_usd": np.bincount(market.inv["cust"], weights=_ar_usd(market), minlength=n),
        }
    )


def ar_breakdown(market: Any) -> dict[str, dict[str, float]]:
    """Ground-truth receivables today in million USD by latent class and due bucket (evaluation only)."""
    t, inv = market._day, market.inv
    due = inv["due"].astype(np.int64)
    bucket = np.select([due > t, due > t - 30, due > t - 90], ["not_due", "1-30", "31-90"], "over_90")
    cls = np.array(sim_profiles.LATENT_CLASSES, dtype=object)[market.cust["cls"][inv["cust"]]]
    tab = pd.DataFrame({"cls": cls, "bucket": bucket, "ar": _ar_usd(market)}).groupby(["bucket", "cls"])["ar"].sum()
    return {b: {c: round(float(v) / 1e6, 2) for c, v in g.droplevel(0).items()} for b, g in tab.groupby(level=0)}


def main(argv: list[str] | None = None) -> None:
    """CLI: one run, JSON on stdout."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--profile", default="S")
    ap.add_argument("--mode", default="", help=f"comma list of {', '.join(MODES)} (empty: the oracle)")
    ap.add_argument("--draw-seed", type=int, default=None, help="seed of the policy's Thompson draws (default --seed)")
    ap.add_argument("--set", action="append", default=[], help="NbaConfig override, e.g. commit_days=30")
    ap.add_argument("--dump", type=Path, default=None, help="CSV of the policy arm's AR and contacts per customer")
    ap.add_argument("--cache-dir", type=Path, default=None, help="reuse / store the ladder arm per seed")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("ml.nba").setLevel(logging.WARNING)
    logging.getLogger("simulator").setLevel(logging.WARNING)
    mode = {m for m in a.mode.split(",") if m}
    fields = {f.name: f.type for f in dataclasses.fields(NbaConfig)}
    overrides: dict[str, Any] = {}
    for item in a.set:
        key, _, raw = item.partition("=")
        if key not in fields:
            raise SystemExit(f"--set: NbaConfig has no field {key!r}")
        overrides[key] = json.loads(raw) if raw not in ("None", "") else None
    out = run(
        seed=a.seed,
        days=a.days,
        mode=mode,
        profile=a.profile,
        cache_dir=a.cache_dir,
        draw_seed=a.draw_seed,
        dump=a.dump,
        overrides=overrides,
    )
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
