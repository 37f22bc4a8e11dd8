"""Decision quality (issue 22): the policy against the static ladder and the oracle, per seed, and the budget frontier.

Runs :func:`evaluation.closed_loop.simulate_policy` (the code behind ``cobranza simulate-policy``)
for each seed with the oracle arm, and for each contact budget (a share of the ladder's contacts)
without it, writes one JSON per run into ``--out`` and renders ``decision_quality.png`` there: the
collectable DSO at the end per seed for the three arms, and the frontier (policy DSO, cash and
opt-outs against its contacts as a share of the ladder's). ``--render-only`` re-renders the table
and the plot from the JSON files already in ``--out`` (1-4 min per seed at S with ``--workers 2`` on 2
busy cores), so a partial set of runs can be reported as it stands.

    flock /tmp/cobranza-heavy.lock .venv/bin/python -m bench.decision_quality --profile S \\
        --seeds 42,7,1,3,5 --budgets 0.4,0.6,0.8 --frontier-seed 7 --out bench/figures

``--option KEY=VALUE`` runs a policy variant (an :class:`ml.nba.value.NbaConfig` field, e.g.
``pay_risk_scaled=true``); give it its own ``--out`` so its runs are not mixed with the default's.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

from evaluation.closed_loop import aggregate, simulate_policy
from ml.nba.value import NbaConfig


def policy_config(options: list[str]) -> NbaConfig | None:
    """An :class:`NbaConfig` with ``KEY=VALUE`` overrides (a policy variant, e.g. ``pay_risk_scaled=true``)."""
    if not options:
        return None
    fields = {f.name: f for f in dataclasses.fields(NbaConfig)}
    kw: dict[str, Any] = {}
    for opt in options:
        key, sep, raw = opt.partition("=")
        if not sep or key not in fields:
            raise SystemExit(f"--option takes KEY=VALUE with KEY an NbaConfig field, got {opt!r}")
        default = getattr(NbaConfig(), key)
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false", "1", "0"):
                raise SystemExit(f"--option {key} is true or false, got {raw!r}")
            kw[key] = raw.lower() in ("true", "1")
        elif isinstance(default, int | float):
            kw[key] = type(default)(raw)
        else:
            raise SystemExit(f"--option {key}: only boolean and numeric fields can be set here")
    return NbaConfig(**kw)


def run_all(
    profile: str,
    seeds: list[int],
    budgets: list[float],
    frontier_seed: int,
    days: int,
    out: Path,
    config: NbaConfig | None = None,
    workers: int = 1,
) -> None:
    """Run every missing seed (with the oracle) and budget (policy vs ladder) and store each as JSON."""
    out.mkdir(parents=True, exist_ok=True)
    for seed in seeds:
        path = out / f"seed_{profile}_{seed}.json"
        if not path.exists():
            r = simulate_policy(seed=seed, profile=profile, days=days, oracle=True, config=config, workers=workers)
            path.write_text(json.dumps(r, default=str))
    for share in budgets:
        path = out / f"budget_{profile}_{frontier_seed}_{share:.2f}.json"
        if not path.exists():
            r = simulate_policy(
                seed=frontier_seed, profile=profile, days=days, budget_share=share, config=config, workers=workers
            )
            path.write_text(json.dumps(r, default=str))


def load(out: Path, profile: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The stored seed runs and budget runs of ``profile``."""
    seeds = [json.loads(p.read_text()) for p in sorted(out.glob(f"seed_{profile}_*.json"))]
    budgets = [json.loads(p.read_text()) for p in sorted(out.glob(f"budget_{profile}_*.json"))]
    if budgets:  # the seed's full-budget run is the frontier's 100% point
        full = [dict(r, budget_share=1.0) for r in seeds if r["seed"] == budgets[0]["seed"]]
        budgets += full[:1]
    return seeds, sorted(budgets, key=lambda r: r["budget_share"])


def table(seeds: list[dict[str, Any]], budgets: list[dict[str, Any]]) -> str:
    """Markdown tables of the seed runs and the frontier."""
    lines = [
        "| seed | arm | DSO end collectable / gross | DSO mean collectable / gross | collected USD | written off USD"
        " | contacts | escalations | opt-outs | complaints | violations |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in seeds:
        for arm in ("policy", "ladder", "oracle"):
            x = r[arm]
            lines.append(
                f"| {r['seed']} | {arm} | {x['dso_end_collectable']:.1f} / {x['dso_end']:.1f} | "
                f"{x['dso_mean_collectable']:.1f} / {x['dso_mean']:.1f} | {x['collected_usd'] / 1e6:.2f}M | "
                f"{x['written_off_usd'] / 1e6:.2f}M | {x['contacts']:,} | {x['escalations']:,} | {x['opt_outs']} | "
                f"{x['complaints']} | {x['violations']} |"
            )
    lines += [
        "",
        "| seed | policy DSO lower (collectable, end) | oracle DSO lower | policy share of the oracle's gain"
        " (end / mean over the period) | contacts policy / ladder | bar met |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for r in seeds:
        lines.append(
            f"| {r['seed']} | {r['dso_reduction_end_collectable']:.1%} | "
            f"{r['oracle_dso_reduction_end_collectable']:.1%}"
            f" | {r['share_of_oracle_gain_collectable']:.0%} / {r['share_of_oracle_gain_mean_collectable']:.0%} | "
            f"{r['policy']['contacts']:,} / {r['ladder']['contacts']:,} | {r['decision_bar_met']} |"
        )
    if len(seeds) > 1:
        agg = aggregate(seeds)
        lines.append(
            f"| all ({len(seeds)}) | {agg['dso_reduction_end_collectable_mean']:.1%} (mean) | | "
            f"{agg['share_of_oracle_gain_collectable_pooled']:.0%} pooled, "
            f"min {agg['share_of_oracle_gain_collectable_min']:.0%}"
            f" | | {agg['decision_bar_met_every_seed']} |"
        )
    if budgets:
        lines += [
            "",
            "| budget (share of the ladder's contacts) | contacts policy / ladder | DSO end collectable policy / ladder"
            " | collected USD policy / ladder | opt-outs policy / ladder | escalations policy / ladder |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for r in budgets:
            p, lad = r["policy"], r["ladder"]
            lines.append(
                f"| {r['budget_share']:.0%} | {p['contacts']:,} / {lad['contacts']:,} | "
                f"{p['dso_end_collectable']:.1f} / {lad['dso_end_collectable']:.1f} | "
                f"{p['collected_usd'] / 1e6:.2f}M / {lad['collected_usd'] / 1e6:.2f}M | "
                f"{p['opt_outs']} / {lad['opt_outs']} |"
                f" {p['escalations']} / {lad['escalations']} |"
            )
    return "\n".join(lines)


def plot(seeds: list[dict[str, Any]], budgets: list[dict[str, Any]], path: Path) -> None:
    """PNG: collectable DSO at the end per seed and arm, and the contact-budget frontier."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
    width = 0.27
    for i, arm in enumerate(("ladder", "policy", "oracle")):
        xs = [k + (i - 1) * width for k in range(len(seeds))]
        a.bar(xs, [r[arm]["dso_end_collectable"] for r in seeds], width, label=arm)
    a.set_xticks(range(len(seeds)), [f"seed {r['seed']}" for r in seeds])
    a.set_ylabel("DSO at the end, collectable (days)")
    lo = (
        min(min(r[arm]["dso_end_collectable"] for arm in ("ladder", "policy", "oracle")) for r in seeds) if seeds else 0
    )
    a.set_ylim(max(lo - 10, 0), None)
    a.set_title(
        f"Policy vs ladder vs oracle, {seeds[0]['profile'] if seeds else ''} {seeds[0]['days'] if seeds else ''} days"
    )
    a.legend()
    if budgets:
        share = [r["policy"]["contacts"] / r["ladder"]["contacts"] for r in budgets]
        b.plot(share, [r["policy"]["dso_end_collectable"] for r in budgets], "o-", label="policy")
        b.axhline(budgets[0]["ladder"]["dso_end_collectable"], color="grey", ls="--", label="ladder (all its contacts)")
        for s, r in zip(share, budgets, strict=True):
            p = r["policy"]
            b.annotate(
                f"{p['collected_usd'] / 1e6:.1f}M, {p['opt_outs']} opt-outs", (s, p["dso_end_collectable"]), fontsize=8
            )
        b.set_xlabel("policy contacts / ladder contacts")
        b.set_ylabel("DSO at the end, collectable (days)")
        b.set_title(f"Contact budget frontier, seed {budgets[0]['seed']}")
        b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> None:
    """CLI: run what is missing (unless --render-only), print the tables, write the plot."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="S")
    ap.add_argument("--seeds", default="42,7,1,3,5")
    ap.add_argument("--budgets", default="0.4,0.6,0.8")
    ap.add_argument("--frontier-seed", type=int, default=7)
    ap.add_argument("--days", type=int, default=90)
    ap.add_argument("--out", type=Path, default=Path("bench/figures"))
    ap.add_argument("--render-only", action="store_true")
    ap.add_argument(
        "--option",
        action="append",
        default=[],
        help="policy variant: KEY=VALUE on NbaConfig (repeatable), e.g. pay_risk_scaled=true; use its own --out",
    )
    ap.add_argument("--workers", type=int, default=1, help="2: policy and oracle arms in their own processes")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("ml.nba").setLevel(logging.WARNING)
    logging.getLogger("simulator").setLevel(logging.WARNING)
    if not a.render_only:
        seeds = [int(s) for s in a.seeds.split(",") if s]
        budgets = [float(b) for b in a.budgets.split(",") if b]
        run_all(a.profile, seeds, budgets, a.frontier_seed, a.days, a.out, policy_config(a.option), a.workers)
    seeds_r, budgets_r = load(a.out, a.profile)
    print(table(seeds_r, budgets_r))
    if seeds_r or budgets_r:
        plot(seeds_r, budgets_r, a.out / f"decision_quality_{a.profile}.png")


if __name__ == "__main__":
    main()
