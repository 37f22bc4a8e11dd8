"""The KPI report's early-warning section (issue 21): what is open, by signal, and whose contacts are held."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from cobranza.report import build_report
from cobranza.report.queries import mart_as_of
from connectors import warehouse
from ml.alerts import lifecycle


def test_report_lists_open_alerts_and_held_customers(profile_s_data: Path, tmp_path: Path) -> None:
    db = tmp_path / "warehouse.duckdb"
    shutil.copy(profile_s_data / "warehouse.duckdb", db)
    with warehouse.connect(db) as con:
        as_of = mart_as_of(con)
        findings = pd.DataFrame(
            [
                {
                    "alert_id": f"rep{k}",
                    "signal": signal,
                    "customer_id": f"CX{k}",
                    "evidence_key": str(k),
                    "severity": "high",
                    "score": 1.0,
                    "first_seen_date": as_of,
                    "amount": None,
                    "currency": None,
                    "evidence": "BT9",
                    "description": f"planted for the report test {k}",
                }
                for k, signal in enumerate(["lapping", "stopped_paying"])
            ]
        )
        lifecycle.raise_alerts(
            con,
            findings,
            as_of=as_of,
            now_utc=datetime.now(UTC),
            n_customers=1000,
            config=lifecycle.AlertsConfig(max_share=1.0),
        )
        lifecycle.change_status(con, "rep1", "resolved", at=datetime.now(UTC), actor="ana")
    result = build_report(db, tmp_path / "out")
    html = result.path.read_text(encoding="utf-8")
    section = html[html.index('<section id="alerts">') : html.index('<section id="cash">')]
    assert "planted for the report test 0" in section  # open: listed
    assert "planted for the report test 1" not in section.split("<th>what</th>")[1]  # resolved: counted, not listed
    assert "1 customers have an open fraud or redirection alert" in section
