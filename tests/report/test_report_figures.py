"""The KPI report on a real profile-S warehouse: its figures are the KPI mart's, and it stands alone.

Reads the rendered HTML back (headline tiles, the JSON data block, chart labels) and compares it to
``marts.mart_collections_kpis`` queried independently with DuckDB; builds segment/country-scoped
reports; checks that a section whose data is missing says so instead of failing; and runs the
``cobranza report`` command and the ``kpi_report`` Prefect flow.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from lxml import html as lxml_html
from report_helpers import AS_OF, copy_world

pytestmark = pytest.mark.slow

HEADLINE_KEYS = [
    "ar_total_reporting",
    "ar_overdue_reporting",
    "pct_overdue",
    "dso_standard",
    "dso_countback",
    "dso_best_possible",
    "avg_days_delinquent",
    "cei_30d",
    "contact_rate",
    "effective_contact_rate",
    "promise_kept_rate",
    "auto_match_rate",
]


def _mart_row(db: Path, segment: str, country: str, currency: str) -> dict:
    with duckdb.connect(str(db)) as con:
        rel = con.sql(
            "select * from marts.mart_collections_kpis where segment = ? and country = ? and currency = ?",
            params=[segment, country, currency],
        )
        rows = rel.to_arrow_table().to_pylist()
    assert len(rows) == 1, (segment, country, currency)
    return rows[0]


def _tiles(page: str) -> dict[str, tuple[str, str]]:
    doc = lxml_html.fromstring(page)
    return {
        el.get("data-kpi"): (el.get("data-value"), el.find_class("value")[0].text_content().strip())
        for el in doc.xpath("//*[@data-kpi]")
    }


def _assert_tiles_equal_mart(page: str, row: dict) -> None:
    from cobranza.report.build import HEADLINE, format_value

    tiles = _tiles(page)
    assert set(tiles) == set(HEADLINE_KEYS)
    kinds = {key: kind for key, _, kind in HEADLINE}
    for key in HEADLINE_KEYS:
        expected = row[key]
        value, text = tiles[key]
        if expected is None:
            assert value == "" and text == "n/a", key
            continue
        exp = float(expected) if isinstance(expected, Decimal) else expected
        assert math.isclose(float(value), exp, rel_tol=1e-12, abs_tol=1e-9), (key, value, exp)
        assert text == format_value(expected, kinds[key], row["reporting_currency"]), key
    payload = json.loads(lxml_html.fromstring(page).get_element_by_id("report-data").text)
    for key in HEADLINE_KEYS:
        if row[key] is not None:
            assert math.isclose(payload["headline"][key], float(row[key]), rel_tol=1e-12), key


def test_headline_figures_equal_the_kpi_mart(kpi_report, profile_s_data) -> None:
    page = kpi_report.path.read_text(encoding="utf-8")
    row = _mart_row(profile_s_data / "warehouse.duckdb", "all", "all", "all")
    assert kpi_report.as_of == AS_OF == row["as_of_date"]
    _assert_tiles_equal_mart(page, row)
    # the money tiles print whole reporting-currency units of the mart's Decimal amounts
    assert _tiles(page)["ar_total_reporting"][1] == f"{row['ar_total_reporting']:,.0f} {row['reporting_currency']}"


def test_aging_waterfall_labels_are_the_mart_buckets(kpi_report, profile_s_data) -> None:
    from cobranza.report.figures import money_short

    row = _mart_row(profile_s_data / "warehouse.duckdb", "all", "all", "all")
    doc = lxml_html.fromstring(kpi_report.path.read_text(encoding="utf-8"))
    (aging,) = doc.xpath("//figure[@id='fig-aging']")
    labels = [t.strip() for t in aging.xpath(".//*[local-name()='text']//text()") if t.strip()]
    for col in ("ar_current", "ar_1_30", "ar_31_60", "ar_61_90", "ar_90_plus", "ar_total"):
        assert money_short(float(row[f"{col}_reporting"])) in labels, col
    buckets = sum(row[f"{c}_reporting"] for c in ("ar_current", "ar_1_30", "ar_31_60", "ar_61_90", "ar_90_plus"))
    assert abs(buckets - row["ar_total_reporting"]) <= Decimal("0.05")


def test_report_is_self_contained_with_charts_and_data_driven_insights(kpi_report) -> None:
    page = kpi_report.path.read_text(encoding="utf-8")
    assert kpi_report.figures >= 6
    assert page.count('<svg class="chart"') == kpi_report.figures
    # nothing fetched from the network: no external scripts, styles, images or fonts
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(http" not in page
    assert not re.search(r"<(link|img|iframe)\b", page)
    doc = lxml_html.fromstring(page)
    insights = doc.xpath("//*[@data-insight]")
    assert len(insights) >= 5
    keys = {el.get("data-insight") for el in insights}
    assert {"dso_change", "delinquency_gap", "aging", "expected_loss", "channels"} <= keys
    for el in insights:
        text = el.text_content()
        assert re.search(r"\d", text), "an insight must carry figures"
        assert "Recommended:" in text
        target = el.xpath(".//a/@href")[0].lstrip("#")
        assert doc.xpath(f"//*[@id='{target}']"), f"insight {el.get('data-insight')} points at a missing figure"
    # one run date: no decision has reached the end of its 14-day outcome window, so no uplift chart
    # (not a chart of zeros) and a sentence saying why
    (uplift,) = doc.xpath("//*[@data-unavailable='uplift']")
    assert "14-day outcome window" in uplift.text_content() and "fig-uplift" not in page
    # the DSO insight names the segment that moved DSO most (computed from the trend, not fixed text)
    dso = next(el for el in insights if el.get("data-insight") == "dso_change").text_content()
    assert re.search(r"Segment (enterprise|mid_market|smb) accounts for [+-]\d", dso)


def test_scoped_report_matches_its_mart_row(profile_s_data, tmp_path) -> None:
    from cobranza.report import build_report

    db = profile_s_data / "warehouse.duckdb"
    seg = build_report(db, tmp_path / "smb.html", segment="smb")
    _assert_tiles_equal_mart(seg.path.read_text(encoding="utf-8"), _mart_row(db, "smb", "all", "all"))
    mx = build_report(db, tmp_path, segment="enterprise", country="mx")
    assert mx.path.name == "kpi_report_2026-11-23_enterprise_MX.html"
    _assert_tiles_equal_mart(mx.path.read_text(encoding="utf-8"), _mart_row(db, "enterprise", "MX", "MXN"))
    assert "model" in mx.unavailable  # no tracking URI given: the section says so


def test_missing_tables_make_sections_say_data_not_available(profile_s_data, tmp_path) -> None:
    from cobranza.report import build_report

    data = copy_world(profile_s_data, tmp_path / "world")
    with duckdb.connect(str(data / "warehouse.duckdb")) as con:
        # a warehouse before its first scoring and decision: the owners created the tables empty
        # (flows.dbt_runner.ensure_operational_tables) and the marts read them through dbt sources
        for table in ("invoice_scores", "invoice_explanations", "customer_risk", "score_drift"):
            con.execute(f"delete from ml_scores.{table}")
        con.execute("delete from decisions.nba_decisions")
    result = build_report(data / "warehouse.duckdb", tmp_path / "r.html", tracking_uri=f"sqlite:///{tmp_path}/none.db")
    doc = lxml_html.fromstring(result.path.read_text(encoding="utf-8"))
    for section in ("risk", "model", "drift"):
        (el,) = doc.xpath(f"//*[@data-unavailable='{section}']")
        assert "Data not available yet" in el.text_content() or "data not available yet" in el.text_content()
    assert "ml_scores.invoice_scores" in result.unavailable["risk"]
    assert "cobranza train" in result.unavailable["model"]
    assert result.headline["dso_standard"] is not None


def test_wrong_date_and_unknown_scope_fail_with_the_fix(profile_s_data, tmp_path) -> None:
    from cobranza.report import ReportDataError, build_report

    db = profile_s_data / "warehouse.duckdb"
    with pytest.raises(ReportDataError, match=r"cobranza run --as-of 2026-10-01"):
        build_report(db, tmp_path, as_of=AS_OF.replace(month=10, day=1))
    with pytest.raises(ReportDataError, match=r"segments are enterprise, mid_market, smb"):
        build_report(db, tmp_path, segment="retail")
    with pytest.raises(FileNotFoundError, match=r"run `cobranza run` first"):
        build_report(tmp_path / "nope.duckdb", tmp_path)


def test_cli_report_json_and_one_line_error(profile_s_data, tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from cli.app import app

    monkeypatch.setenv("COBRANZA_DATA_DIR", str(profile_s_data))
    runner = CliRunner()
    ok = runner.invoke(app, ["report", "--out", str(tmp_path), "--json"])
    assert ok.exit_code == 0, ok.output
    out = json.loads(ok.stdout.strip().splitlines()[-1])
    assert Path(out["path"]).is_file() and out["as_of"] == AS_OF.isoformat()
    assert out["headline"]["dso_standard"] > 0
    bad = runner.invoke(app, ["report", "--segment", "retail", "--out", str(tmp_path)])
    assert bad.exit_code == 1
    lines = [ln for ln in bad.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "segments are" in lines[0]


def test_kpi_report_flow_writes_into_the_data_dir(profile_s_data, monkeypatch, prefect_harness) -> None:
    from flows.report import kpi_report

    monkeypatch.setenv("COBRANZA_DATA_DIR", str(profile_s_data))
    result = kpi_report(segment="mid_market")
    path = Path(result["path"])
    assert path.parent == profile_s_data / "reports" and path.is_file()
    assert result["scope"] == "segment mid_market, all countries"
    assert result["headline"]["ar_total_reporting"] == pytest.approx(
        float(_mart_row(profile_s_data / "warehouse.duckdb", "mid_market", "all", "all")["ar_total_reporting"])
    )


def test_dso_trend_points_are_the_run_date_the_previous_period_and_twelve_month_ends(profile_s_data) -> None:
    # the trend's points are defined once, in dbt (marts.mart_dso_trend), from the run date
    with duckdb.connect(str(profile_s_data / "warehouse.duckdb"), read_only=True) as con:
        points = [
            r[0] for r in con.execute("select distinct point_date from marts.mart_dso_trend order by 1").fetchall()
        ]
    month_ends = [date(2025, 11, 30), date(2025, 12, 31)] + [
        date(2026, m + 1, 1) - timedelta(days=1) for m in range(1, 11)
    ]
    assert points == sorted([*month_ends, date(2026, 10, 24), AS_OF])
