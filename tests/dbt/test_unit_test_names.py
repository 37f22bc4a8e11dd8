"""dbt unit-test names fit PostgreSQL's 63-character identifiers.

dbt names the relation of a unit test after the test; on the PostgreSQL target a longer name fails the
test at run time ("Relation name ... is longer than 63 characters") while DuckDB accepts it, so a
DuckDB-only run never notices. Checked on the YAML, without a database.
"""

from __future__ import annotations

from pathlib import Path

import yaml

MODELS = Path(__file__).resolve().parents[2] / "dbt_project" / "models"


def test_unit_test_names_fit_postgres_identifiers() -> None:
    too_long = []
    count = 0
    for path in MODELS.rglob("*.yml"):
        for test in (yaml.safe_load(path.read_text()) or {}).get("unit_tests") or []:
            count += 1
            if len(test["name"]) > 63:
                too_long.append(f"{path.relative_to(MODELS)}: {test['name']} ({len(test['name'])})")
    assert count > 0, "no dbt unit tests found: did the models folder move?"
    assert not too_long, "unit-test names over 63 characters (PostgreSQL's limit): " + "; ".join(too_long)
