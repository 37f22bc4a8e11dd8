"""Build the KPI report: read the warehouse and the registry, draw the charts, write one HTML file.

``build_report`` is the library entry point used by the ``cobranza report`` command and the
``kpi_report`` Prefect flow. The page is self-contained (inline CSS and SVG, no external fonts,
scripts or images), so it can be e-mailed to the CFO and opened offline.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from cobranza.report import figures, insights
from cobranza.report.queries import KPI_WINDOW_DAYS, PSI_ALERT, ReportData, ReportDataError, load_report_data

# The headline figures, in the order the page shows them: (mart column, label, format).
HEADLINE = [
    ("ar_total_reporting", "Open AR", "money"),
    ("ar_overdue_reporting", "Overdue AR", "money"),
    ("pct_overdue", "% overdue", "pct"),
    ("dso_standard", "DSO (standard)", "days"),
    ("dso_countback", "DSO (countback)", "days"),
    ("dso_best_possible", "Best possible DSO", "days"),
    ("avg_days_delinquent", "Avg days delinquent", "days"),
    ("cei_30d", "CEI (30 days)", "cei"),
    ("contact_rate", "Contact rate", "pct"),
    ("effective_contact_rate", "Effective contact rate", "pct"),
    ("promise_kept_rate", "Promises kept", "pct"),
    ("auto_match_rate", "Auto-match rate", "pct"),
]
CHANNELS = ["email", "whatsapp", "sms", "call", "letter"]
CHARTS = ["DSO trend", "aging waterfall", "DSO drivers", "segments", "channels", "uplift", "auto-match",
          "risk distribution", "drift"]  # fmt: skip


def expected_steps() -> int:
    """Progress steps ``build_report`` reports at most (reading the warehouse, each chart, writing the page)."""
    return len(CHARTS) + 2


@dataclass(frozen=True)
class ReportResult:
    """Where the report went and what it says."""

    path: Path
    as_of: date
    scope: str
    figures: int
    insights: list[str]
    headline: dict[str, float | None]
    unavailable: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly summary (the CLI's ``--json`` output)."""
        return {
            "path": str(self.path),
            "as_of": self.as_of.isoformat(),
            "scope": self.scope,
            "figures": self.figures,
            "insights": self.insights,
            "headline": self.headline,
            "unavailable": self.unavailable,
        }


def format_value(value: Any, kind: str, currency: str = "") -> str:
    """Display format of a headline figure (the same text the test reads back)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    v = float(value)
    if kind == "money":
        return f"{v:,.0f} {currency}".strip()
    if kind == "pct":
        return f"{100 * v:.1f}%"
    if kind == "cei":
        return f"{v:.1f}%"
    return f"{v:.1f} d"


def _plain(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        return float(value)
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else f


def default_filename(as_of: date, segment: str | None, country: str | None) -> str:
    """``kpi_report_<date>[_<segment>][_<country>].html``."""
    parts = ["kpi_report", as_of.isoformat(), *(p for p in (segment, country and country.upper()) if p)]
    return "_".join(parts) + ".html"


def render(data: ReportData, generated_at: datetime | None = None, step: Callable[[str], None] | None = None) -> str:
    """Render the report's HTML from data already read.

    Args:
        data: What ``load_report_data`` read.
        generated_at: Timestamp printed in the footer (default: now, UTC).
        step: Optional progress callback, called with the name of each chart drawn.
    """
    step = step or (lambda _name: None)
    k = data.kpis
    currency = str(k.get("reporting_currency") or "")
    charts: dict[str, str] = {}
    step("DSO trend")
    charts["dso_trend"] = figures.dso_trend(data.trend, k, data.as_of)
    step("aging waterfall")
    charts["aging"] = figures.aging_waterfall(k, currency)
    changes = insights.dso_segment_changes(data)
    if not data.segment and len(changes) > 1:
        step("DSO drivers")
        charts["drivers"] = figures.dso_drivers(changes)
    if len(data.kpis_by_segment) > 0:
        step("segments")
        charts["segments"] = figures.segment_kpis(data.kpis_by_segment)
    recovered = {c: _plain(k.get(f"recovered_{c}_reporting")) or 0.0 for c in CHANNELS}
    if not data.channels.empty or any(recovered.values()):
        step("channels")
        charts["channels"] = figures.channel_performance(data.channels, recovered, currency)
    if "uplift" not in data.missing:
        step("uplift")
        charts["uplift"] = figures.uplift(k)
    if not data.kpis_by_currency.empty:
        step("auto-match")
        charts["auto_match"] = figures.auto_match(data.kpis_by_currency)
    if not data.risk_bands.empty:
        step("risk distribution")
        charts["risk"] = figures.risk_distribution(data.risk_bands, currency)
    if data.drift is not None:
        step("drift")
        limit = float(data.drift["threshold"].iloc[0]) if "threshold" in data.drift.columns else PSI_ALERT
        charts["drift"] = figures.drift(data.drift, limit)
    found = insights.compute(data, currency)
    headline = [
        {"key": key, "label": label, "value": _plain(k.get(key)), "text": format_value(k.get(key), kind, currency)}
        for key, label, kind in HEADLINE
    ]
    trend = data.trend[data.trend["segment"] == "all"].sort_values("point_date")
    env = Environment(
        loader=PackageLoader("cobranza.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["money"] = lambda v: figures.money_short(_plain(v) or 0.0, currency)
    env.filters["pct"] = lambda v: "n/a" if _plain(v) is None else f"{100 * _plain(v):.1f}%"
    env.filters["num"] = lambda v, d=1: "n/a" if _plain(v) is None else f"{_plain(v):,.{d}f}"
    payload = {
        "as_of": data.as_of.isoformat(),
        "scope": {"segment": data.segment, "country": data.country},
        "reporting_currency": currency,
        "headline": {h["key"]: h["value"] for h in headline},
        "insights": [i.key for i in found],
        "unavailable": data.missing,
    }
    return env.get_template("report.html.j2").render(
        data=data,
        k=k,
        currency=currency,
        headline=headline,
        charts=charts,
        insights=found,
        trend=trend,
        accounts=data.risk_accounts.head(15),
        window_days=KPI_WINDOW_DAYS,
        generated_at=(generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"),
        payload=json.dumps(payload, sort_keys=True).replace("</", "<\\/"),
        channels=data.channels,
        recovered=recovered,
    )


def build_report(
    warehouse: Path,
    out: Path,
    *,
    as_of: date | None = None,
    segment: str | None = None,
    country: str | None = None,
    tracking_uri: str | None = None,
    step: Callable[[str], None] | None = None,
    read_only: bool = False,
) -> ReportResult:
    """Write the self-contained KPI report for a date and an optional segment/country.

    Args:
        warehouse: DuckDB warehouse file built by the daily run, or its published read copy.
        out: Output HTML file, or a folder to write ``kpi_report_<date>....html`` into.
        as_of: Report date (default: the date the KPI mart was built for).
        segment: Optional customer segment.
        country: Optional ISO country code.
        tracking_uri: MLflow tracking URI for the model-health section.
        step: Optional progress callback (the CLI's progress bar).
        read_only: Open the file read-only (the published copy, which other readers may hold open).

    Raises:
        FileNotFoundError: the warehouse file does not exist.
        ReportDataError: the warehouse cannot support the requested report.
    """
    warehouse = Path(warehouse)
    if not warehouse.is_file():
        raise FileNotFoundError(
            f"warehouse {warehouse} does not exist: run `cobranza run` first, "
            "or point COBRANZA_DATA_DIR (or COBRANZA_WAREHOUSE__DUCKDB_PATH) at it"
        )
    step = step or (lambda _name: None)
    step("reading the warehouse")
    try:
        # The published read copy is opened read_only (analysts may hold it too); the warehouse itself in
        # the default mode: a read-only connection fails in a process where dbt has already opened the
        # file (STACK.md), e.g. right after the daily run in the same worker.
        con = duckdb.connect(str(warehouse), read_only=read_only)
    except duckdb.IOException as exc:
        raise ReportDataError(
            f"cannot open {warehouse} ({exc}): another process is writing it; wait for the daily run to finish"
        ) from exc
    try:
        data = load_report_data(con, as_of=as_of, segment=segment, country=country, tracking_uri=tracking_uri)
    finally:
        con.close()
    html = render(data, step=step)
    out = Path(out)
    path = out / default_filename(data.as_of, data.segment, data.country) if out.is_dir() or not out.suffix else out
    path.parent.mkdir(parents=True, exist_ok=True)
    step("writing the page")
    path.write_text(html, encoding="utf-8")
    found = insights.compute(data, str(data.kpis.get("reporting_currency") or ""))
    return ReportResult(
        path=path,
        as_of=data.as_of,
        scope=data.scope,
        figures=html.count('<svg class="chart"'),
        insights=[i.headline for i in found],
        headline={key: _plain(data.kpis.get(key)) for key, _, _ in HEADLINE},
        unavailable=dict(data.missing),
    )


__all__ = ["ReportDataError", "ReportResult", "build_report", "render"]
