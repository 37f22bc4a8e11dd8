"""The dbt unit tests run in the test suite, not in the daily build (issue 19).

The daily ``dbt build`` (``flows.stages.build``) leaves the unit tests out: they test the models'
logic on fixed inputs, not the day's data (at profile S they were 23 s of the build's 52 s of node
time). Here a tiny world is built as the daily run builds it, its run results must hold no unit test,
and then ``dbt test --select test_type:unit`` must run every unit test declared in the models' YAML
(the inputs' column types come from the built relations), each passing.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slow

AS_OF = date(2026, 11, 23)
MODELS = Path(__file__).resolve().parents[2] / "dbt_project" / "models"


def _declared_unit_tests() -> set[str]:
    names: set[str] = set()
    for path in MODELS.rglob("*.yml"):
        for test in (yaml.safe_load(path.read_text()) or {}).get("unit_tests") or []:
            names.add(test["name"])
    return names


def _run_results(ctx) -> list[dict]:
    return json.loads((ctx.dbt_dir / "target" / "run_results.json").read_text())["results"]


def test_daily_build_skips_unit_tests_and_the_suite_runs_them(tmp_path: Path) -> None:
    from cobranza.settings import load_settings
    from flows import stages
    from flows.dbt_runner import run_dbt
    from simulator import simulate

    settings = load_settings(data_dir=tmp_path)
    ctx = stages.make_context(settings, AS_OF)
    simulate(ctx.landing_dir, profile="S", seed=3, as_of=AS_OF, n_customers=40)
    stages.ingest(ctx)

    counts = stages.build(ctx)
    assert counts.get("success", 0) > 50, counts
    built = _run_results(ctx)
    assert not [r["unique_id"] for r in built if r["unique_id"].startswith("unit_test.")]
    assert any(r["unique_id"].startswith("test.") for r in built), "the data tests must still run daily"

    declared = _declared_unit_tests()
    assert len(declared) > 30
    run_dbt(
        ["test", "--select", "test_type:unit"],
        duckdb_path=ctx.warehouse,
        work_dir=ctx.dbt_dir,
        as_of=AS_OF,
        late_days=settings.model.late_days,
    )
    ran = {
        r["unique_id"].rsplit(".", 1)[-1]: r["status"]
        for r in _run_results(ctx)
        if r["unique_id"].startswith("unit_test.")
    }
    assert set(ran) == declared, f"not run: {sorted(declared - set(ran))}; unexpected: {sorted(set(ran) - declared)}"
    assert set(ran.values()) == {"pass"}, {k: v for k, v in ran.items() if v != "pass"}
