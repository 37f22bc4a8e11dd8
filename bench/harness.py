"""Benchmark harness: ``python -m bench.harness M`` runs ``cobranza bench --profile M``'s runner.

The runner, :class:`PeakRss` and :func:`machine` live in :mod:`cli.benchmark` (the CLI's ``bench``
command, DESIGN §11, must not import ``bench/``); the benchmark scripts here import them from this
module as before.
"""

from __future__ import annotations

import sys

from cli.benchmark import PeakRss, machine, render, run_bench

__all__ = ["PeakRss", "machine", "render", "run_bench"]

if __name__ == "__main__":
    render(run_bench(sys.argv[1] if len(sys.argv) > 1 else "S"))
