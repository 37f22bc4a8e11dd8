"""``cobranza alerts``: list, acknowledge, resolve and mark false positive; every change is kept (issue 21)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from cli.alerts import alerts_app
from connectors import warehouse
from ml.alerts import lifecycle


def test_cli_lists_and_changes_status(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COBRANZA_DATA_DIR", str(tmp_path))
    finding = {
        "alert_id": "feedbeef01",
        "signal": "lapping",
        "customer_id": "C1",
        "evidence_key": "ES00",
        "severity": "high",
        "score": 2.0,
        "first_seen_date": date(2026, 10, 30),
        "amount": None,
        "currency": None,
        "evidence": "BT1,BT2",
        "description": "2 payments from the account of customer C9",
    }
    with warehouse.connect(tmp_path / "warehouse.duckdb") as con:
        lifecycle.raise_alerts(
            con,
            pd.DataFrame([finding]),
            as_of=date(2026, 10, 31),
            now_utc=datetime(2026, 10, 31, 6, tzinfo=UTC),
            n_customers=100,
            config=lifecycle.AlertsConfig(),
        )
    run = CliRunner()
    listed = json.loads(run.invoke(alerts_app, ["--json"]).stdout)
    assert listed["count"] == 1 and listed["alerts"][0]["status"] == "new"
    out = run.invoke(alerts_app, ["ack", "feedbeef", "--by", "ana", "--json"])
    assert out.exit_code == 0 and json.loads(out.stdout) == {"alert_id": "feedbeef01", "status": "acknowledged"}
    assert run.invoke(alerts_app, ["false-positive", "feedbeef01", "--note", "known payer"]).exit_code == 0
    missing = run.invoke(alerts_app, ["resolve", "nope"])
    assert missing.exit_code == 1 and "no alert with id 'nope'" in missing.stdout
    with warehouse.connect(tmp_path / "warehouse.duckdb") as con:
        kept = lifecycle.history(con, "feedbeef01")
    assert kept["status"].tolist() == ["new", "acknowledged", "false_positive"]
    assert kept["note"].tolist()[-1] == "known payer"
    now = json.loads(run.invoke(alerts_app, ["--json", "--status", "false_positive"]).stdout)
    assert [a["alert_id"] for a in now["alerts"]] == ["feedbeef01"]
