"""Cobranza quality gates: Great Expectations suites and checkpoints for raw and mart tables.

``run_checkpoint("raw" | "pre_dispatch", con, ...)`` validates warehouse tables and returns a
:class:`~expectations.gates.GateResult`; ``raise_if_failed()`` stops the run on a critical failure
(DESIGN.md §5). Importing this package does not import Great Expectations (that costs ~5 s); the
first validation does.
"""

from expectations.gates import CHECKPOINTS, GateResult, QualityGateError, SuiteResult, run_checkpoint

__all__ = ["CHECKPOINTS", "GateResult", "QualityGateError", "SuiteResult", "run_checkpoint"]
