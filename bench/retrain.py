"""Weekly-retrain benchmark: how long retraining the delinquency model takes at a profile (DESIGN §9: L <= 5 min).

Two steps, so the expensive data preparation is paid once:

1. ``--prepare``: simulate the profile's world, land it and ``dbt build`` the feature marts
   (``+ml_invoice_features +ml_open_invoice_features``) in ``--data-dir``.
2. The measured part, the weekly retrain's own work on those marts: read ``ml_invoice_features``,
   split by due date, fit XGBoost (hist, 2 threads) with early stopping, calibrate, fit both
   baselines, score the champion on the same window, log to MLflow and register (the body of the
   ``train-model`` task, run as plain Python with ``force=True``). Peak RSS is sampled every 20 ms.

Run it under the shared heavy-work lock with a private data directory::

    flock /tmp/cobranza-heavy.lock .venv/bin/python -m bench.retrain --profile L --data-dir /tmp/me/L --prepare
    flock /tmp/cobranza-heavy.lock .venv/bin/python -m bench.retrain --profile L --data-dir /tmp/me/L --json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

from bench.harness import PeakRss, machine
from cobranza import runtime

runtime.apply_defaults()

AS_OF = date(2026, 11, 23)


def _context(profile: str, data_dir: Path, as_of: date, dask_scheduler: str | None = None):
    from cobranza.settings import load_settings
    from flows import stages

    settings = load_settings(data_dir=data_dir)
    settings.simulator.profile = profile
    if dask_scheduler:
        settings.model.dask_scheduler = dask_scheduler
    return stages.make_context(settings, as_of)


def prepare(profile: str, data_dir: Path, as_of: date = AS_OF) -> dict[str, float]:
    """Simulate, ingest and build the feature marts; return seconds per step."""
    from flows import stages

    ctx = _context(profile, data_dir, as_of)
    marts = "+ml_invoice_features +ml_open_invoice_features"
    seconds: dict[str, float] = {}
    for name, step in (
        ("simulate", lambda: stages.simulate(ctx)),
        ("ingest", lambda: stages.ingest(ctx)),
        ("dbt build features", lambda: stages.build(ctx, models=marts)),
    ):
        start = time.perf_counter()
        step()
        seconds[name] = round(time.perf_counter() - start, 1)
    return seconds


def measure(profile: str, data_dir: Path, as_of: date = AS_OF, dask_scheduler: str | None = None) -> dict[str, Any]:
    """Time one forced retrain on the prepared marts.

    Returns:
        ``{"profile", "machine", "seconds", "peak_rss_mib", "model_version", "promoted", "reason",
        "metrics"}``.

    Raises:
        FileNotFoundError: If ``data_dir`` has no prepared warehouse.
    """
    from flows import stages

    ctx = _context(profile, data_dir, as_of, dask_scheduler)
    if not ctx.warehouse.exists():
        raise FileNotFoundError(f"{ctx.warehouse}: no warehouse; run with --prepare first")
    start = time.perf_counter()
    with PeakRss() as mem:
        trained = stages.train(ctx, force=True)
    return {
        "profile": profile,
        "machine": machine(),
        "seconds": round(time.perf_counter() - start, 1),
        "peak_rss_mib": mem.peak >> 20,
        "model_version": trained.get("model_version"),
        "promoted": trained.get("promoted"),
        "reason": trained.get("reason"),
        "metrics": {k: round(v, 4) for k, v in (trained.get("metrics") or {}).items()},
        "timings": trained.get("timings"),
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m bench.retrain --profile L --data-dir DIR [--prepare] [--json]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="S", choices=["S", "M", "L"])
    parser.add_argument("--data-dir", type=Path, required=True, help="Private data directory (not data/).")
    parser.add_argument("--prepare", action="store_true", help="Simulate, ingest and build the marts first.")
    parser.add_argument("--dask-scheduler", default=None, help="Train through xgboost.dask on this scheduler.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args(argv)
    out: dict[str, Any] = {}
    if args.prepare:
        out["prepare_seconds"] = prepare(args.profile, args.data_dir)
    out["retrain"] = measure(args.profile, args.data_dir, dask_scheduler=args.dask_scheduler)
    if args.json:
        sys.stdout.write(json.dumps(out, default=str) + "\n")
    else:
        r = out["retrain"]
        sys.stdout.write(
            f"profile {r['profile']}: retrain {r['seconds']} s, peak RSS {r['peak_rss_mib']} MiB, "
            f"v{r['model_version']} ({r['reason']})\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
