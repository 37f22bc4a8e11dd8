"""``cobranza run --full-refresh`` reaches the stages that have a full refresh (issue 19).

The daily run is incremental (the raw gate validates the day's batches, dbt merges the day's
changes); ``--full-refresh`` on the CLI, or ``full_refresh=True`` on the ``daily_collections`` flow,
re-validates whole raw tables (``stages.gate(..., full_refresh=True)``) and rebuilds the incremental
models (``dbt build --full-refresh``). The stages are replaced by recorders: what is checked is the
wiring from the flag to each stage, not the stages themselves.
"""

from __future__ import annotations

from datetime import date

import pytest
from typer.testing import CliRunner


def _recorded_plan(tmp_path, monkeypatch, full_refresh: bool) -> dict[str, dict]:
    from cobranza.settings import load_settings
    from flows import daily, stages

    calls: dict[str, dict] = {}
    monkeypatch.setattr(
        stages, "quality_gate", lambda ctx, checkpoint, **kw: calls.setdefault(f"gate_{checkpoint}", kw)
    )
    monkeypatch.setattr(stages, "dbt_build", lambda ctx, **kw: calls.setdefault("dbt", kw))
    ctx = stages.make_context(load_settings(data_dir=tmp_path), date(2026, 11, 24))
    for key, _, run_stage in daily.plan_of_day(ctx, full_refresh=full_refresh):
        if key in ("gate_raw", "dbt", "gate_marts"):
            run_stage()
    return calls


@pytest.mark.parametrize("full_refresh", [False, True])
def test_flow_hands_full_refresh_to_the_raw_gate_and_dbt(tmp_path, monkeypatch, full_refresh) -> None:
    calls = _recorded_plan(tmp_path, monkeypatch, full_refresh)
    assert calls["gate_raw"] == {"full_refresh": full_refresh}
    assert calls["dbt"] == {"full_refresh": full_refresh}
    assert calls["gate_pre_dispatch"] == {}  # the marts' gate reads whole marts either way


def test_build_passes_full_refresh_to_dbt(tmp_path, monkeypatch) -> None:
    from cobranza.settings import load_settings
    from flows import dbt_runner, stages

    commands: list[list[str]] = []
    monkeypatch.setattr(dbt_runner, "run_dbt", lambda command, **kw: commands.append(command) or {})
    ctx = stages.make_context(load_settings(data_dir=tmp_path), date(2026, 11, 24))
    stages.build(ctx)
    stages.build(ctx, full_refresh=True)
    assert "--full-refresh" not in commands[0]
    assert "--full-refresh" in commands[1]
    assert all(c[c.index("--exclude-resource-type") + 1] == "unit_test" for c in commands)


def test_cli_run_full_refresh_flag(tmp_path, monkeypatch) -> None:
    from cli.app import app
    from flows import daily

    monkeypatch.setenv("COBRANZA_DATA_DIR", str(tmp_path))  # the run's log file
    seen: list[dict] = []

    def fake_flow(**kw):
        seen.append(kw)
        return {}

    monkeypatch.setattr(daily, "daily_collections", fake_flow)
    monkeypatch.setattr("cli.app._emit", lambda *a, **k: None)
    help_text = CliRunner().invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output
    assert "--full-refresh" in help_text
    for args, expected in ((["run", "--json"], False), (["run", "--json", "--full-refresh"], True)):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert seen[-1]["full_refresh"] is expected
