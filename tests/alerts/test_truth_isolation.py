"""The anomalies' ground truth never reaches the pipeline (issue 21, DESIGN.md §8).

The simulator writes the labels to ``_truth/anomalies.parquet``; ingesting its extracts must land
nothing of ``_truth/`` in the warehouse, and no product library may name the truth or import the
evaluation code that reads it.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from cobranza.settings import load_settings
from connectors import warehouse
from flows import stages
from simulator import simulate
from simulator.anomalies import ANOMALY_TYPES, AnomalyConfig

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("connectors", "flows", "ml", "cobranza", "expectations", "dbt_project/models", "dbt_project/macros")


def test_product_code_never_names_the_truth() -> None:
    offenders = []
    for top in PRODUCT:
        for path in (ROOT / top).rglob("*"):
            if path.suffix not in (".py", ".sql", ".yml") or not path.is_file():
                continue
            text = path.read_text(encoding="utf-8")
            if "_truth" in text or re.search(r"^\s*(from|import) evaluation\b", text, re.M):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_ingesting_a_world_with_anomalies_lands_no_label(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    ctx = stages.make_context(settings, date(2026, 10, 31))
    manifest = simulate(
        ctx.landing_dir, profile="S", n_customers=300, as_of=ctx.as_of, anomalies=AnomalyConfig(rate=0.05)
    )
    labels = pq.read_table(manifest.truth_files["anomalies"])
    assert set(labels.column("anomaly_type").to_pylist()) <= set(ANOMALY_TYPES) and labels.num_rows > 0
    stages.ingest(ctx)
    with warehouse.connect(ctx.warehouse) as con:
        tables = con.sql("select table_schema, table_name from information_schema.tables").fetchall()
        columns = {r[0] for r in con.sql("select column_name from information_schema.columns").fetchall()}
    assert not [t for t in tables if "truth" in f"{t[0]}.{t[1]}" or "anomal" in f"{t[0]}.{t[1]}"]
    assert not {"anomaly_type", "onset_date", "latent_class"} & columns
