"""Read what the KPI report needs from the warehouse (DuckDB) and from the MLflow registry.

The queries are SQL files beside this module (``sql/*.sql``), run with DuckDB named parameters
(``$as_of``, ``$segment``, ...). They read the dbt marts only (``marts.*``): every KPI, the DSO
trend, the risk lists and the model drift are defined once, in dbt; the SQL here picks the report's
scope. Results go through Arrow so that DECIMAL money stays ``Decimal``
(``connectors.warehouse.read_frame`` does the same). Every section reads what exists: data another
part of the pipeline has not produced yet (scores, drift, treatment vs control) yields an empty
result and a plain sentence saying what is missing, never an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

SQL_DIR = Path(__file__).with_name("sql")
KPI_MART = "marts.mart_collections_kpis"
KPI_WINDOW_DAYS = 30
#: The DSO trend's previous period (marts.mart_dso_trend has a point at the run date minus dbt's
#: var kpi_window_days, 30).
PREVIOUS_PERIOD_DAYS = 30
DRIFT_MART = "marts.mart_model_drift"
DRIFT_SOURCE = "ml_scores.score_drift"
# A feature whose population stability index passes this is drifting (the usual rule of thumb:
# < 0.1 stable, 0.1-0.25 moderate, > 0.25 significant); a drift table may carry its own threshold.
PSI_ALERT = 0.25


class ReportDataError(ValueError):
    """The warehouse cannot support the requested report (no KPI mart, wrong date, unknown scope)."""


@dataclass
class ReportData:
    """Everything the report shows, read once from the warehouse and the registry."""

    as_of: date
    segment: str | None
    country: str | None
    kpis: dict[str, Any]
    kpis_by_segment: pd.DataFrame
    kpis_by_currency: pd.DataFrame
    trend: pd.DataFrame
    previous_date: date
    channels: pd.DataFrame
    risk_accounts: pd.DataFrame
    risk_bands: pd.DataFrame
    unmatched: pd.DataFrame
    model: dict[str, Any] | None
    drift: pd.DataFrame | None
    missing: dict[str, str] = field(default_factory=dict)
    alerts: pd.DataFrame = field(default_factory=pd.DataFrame)
    agent: dict[str, Any] = field(default_factory=dict)

    @property
    def scope(self) -> str:
        """Human description of the scope, e.g. 'all segments, all countries'."""
        seg = f"segment {self.segment}" if self.segment else "all segments"
        cty = f"country {self.country}" if self.country else "all countries"
        return f"{seg}, {cty}"


def run_sql(con: duckdb.DuckDBPyConnection, name: str, **params: Any) -> pd.DataFrame:
    """Run ``sql/<name>.sql`` with the named parameters it uses and return a pandas frame.

    Args:
        con: Warehouse connection.
        name: File stem under ``cobranza/report/sql``.
        **params: Values for the ``$name`` placeholders (extra ones are ignored).
    """
    sql = (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")
    used = set(re.findall(r"\$(\w+)", sql))
    missing = used - params.keys()
    if missing:
        raise ValueError(f"{SQL_DIR / name}.sql needs parameters {sorted(missing)}")
    return con.sql(sql, params={k: v for k, v in params.items() if k in used}).to_arrow_table().to_pandas()


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    rows = con.execute(
        "select 1 from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchall()
    return bool(rows)


def mart_as_of(con: duckdb.DuckDBPyConnection) -> date:
    """The run date the KPI mart was built for; raises if the warehouse has no KPI mart."""
    if not _table_exists(con, "marts", "mart_collections_kpis"):
        raise ReportDataError(
            f"the warehouse has no {KPI_MART}: run `cobranza run` first (it builds the dbt marts the report reads)"
        )
    rows = con.execute(f"select distinct as_of_date from {KPI_MART} order by 1").fetchall()
    if not rows:
        raise ReportDataError(f"{KPI_MART} is empty: run `cobranza run` to rebuild the marts")
    return rows[-1][0]


def load_report_data(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: date | None = None,
    segment: str | None = None,
    country: str | None = None,
    tracking_uri: str | None = None,
) -> ReportData:
    """Read every section's data for one date and scope.

    Args:
        con: Warehouse connection (DuckDB).
        as_of: Report date; must be the date the KPI mart was built for (default: that date).
        segment: Optional customer segment (e.g. ``enterprise``).
        country: Optional ISO country code of the customers (e.g. ``MX``).
        tracking_uri: MLflow tracking URI for the model-health section (None: section unavailable).

    Raises:
        ReportDataError: no KPI mart, a date the mart was not built for, or an unknown segment/country.
    """
    built = mart_as_of(con)
    as_of = as_of or built
    if as_of != built:
        raise ReportDataError(
            f"{KPI_MART} holds the run of {built}, not {as_of}: run `cobranza run --as-of {as_of}` first, "
            f"or report on {built}"
        )
    country = country.upper() if country else None
    params = {
        "as_of": as_of,
        "segment": segment,
        "country": country,
        "window_days": KPI_WINDOW_DAYS,
    }
    kpi_rows = run_sql(con, "kpi_row", **params)
    if kpi_rows.empty:
        known = con.execute(
            f"select distinct segment, country from {KPI_MART} where currency <> 'all' order by 1, 2"
        ).fetchall()
        segments = sorted({s for s, _ in known if s != "all"})
        countries = sorted({c for _, c in known if c != "all"})
        raise ReportDataError(
            f"no KPI row for segment={segment or 'all'} country={country or 'all'} on {as_of}: "
            f"segments are {', '.join(segments)}; countries are {', '.join(countries)}"
        )
    if len(kpi_rows) > 1:
        raise ReportDataError(
            f"country {country} invoices in {len(kpi_rows)} currencies ({', '.join(kpi_rows['currency'])}): "
            "the KPI mart has no single row for it; report on the whole portfolio or one segment instead"
        )
    previous = as_of - timedelta(days=PREVIOUS_PERIOD_DAYS)
    missing: dict[str, str] = {}
    trend = run_sql(con, "dso_trend", **params)
    trend["point_date"] = pd.to_datetime(trend["point_date"])
    data = ReportData(
        as_of=as_of,
        segment=segment,
        country=country,
        kpis=kpi_rows.iloc[0].to_dict(),
        kpis_by_segment=run_sql(con, "kpi_by_segment", **params),
        kpis_by_currency=run_sql(con, "kpi_by_currency", **params),
        trend=trend,
        previous_date=previous,
        channels=run_sql(con, "channel_performance", **params),
        risk_accounts=pd.DataFrame(),
        risk_bands=pd.DataFrame(),
        unmatched=run_sql(con, "unmatched_payments", **params),
        model=None,
        drift=None,
        missing=missing,
    )
    try:
        accounts = run_sql(con, "risk_accounts", **params)
    except duckdb.Error as exc:  # a warehouse whose marts predate the risk marts, or a dropped source
        missing["risk"] = (
            f"marts.mart_risk_accounts cannot be read ({type(exc).__name__}): run `cobranza run` to rebuild the marts "
            "over ml_scores.invoice_scores"
        )
        accounts = pd.DataFrame()
    if not accounts.empty:
        data.risk_accounts = accounts
        data.risk_bands = run_sql(con, "risk_distribution", **params)
        if accounts["action_today"].isna().all():
            missing["decisions"] = f"decisions.nba_decisions has no decisions for {as_of}: the decide stage writes them"
    elif "risk" not in missing:
        missing["risk"] = (
            f"ml_scores.invoice_scores has no scores up to {as_of}: the daily run's score stage writes them"
        )
    arms = [data.kpis.get("n_customers_treatment"), data.kpis.get("n_customers_control")]
    if any(n is None or pd.isna(n) or int(n) == 0 for n in arms):
        missing["uplift"] = (
            f"{KPI_MART}.n_customers_treatment / n_customers_control are empty or zero: the KPI mart found "
            "no decisions (decisions.nba_decisions) with a treatment/control arm whose 14-day outcome window "
            "has closed"
        )
    if tracking_uri:
        data.model = _champion(tracking_uri, missing)
    else:
        missing["model"] = "no MLflow tracking URI was given"
    data.drift = _drift(con, as_of, missing)
    try:
        from ml.alerts.lifecycle import HOLD_SIGNALS

        data.alerts = run_sql(con, "alerts", **params)
        data.alerts["holds_contacts"] = data.alerts["is_open"] & data.alerts["signal"].isin(HOLD_SIGNALS)
    except duckdb.Error as exc:  # a warehouse built before the early warnings (issue 21)
        missing["alerts"] = f"marts.mart_alerts cannot be read ({type(exc).__name__}): run `cobranza run` to build it"
    try:
        rows = run_sql(con, "agent", **params)
        data.agent = {k: (None if pd.isna(v) else v) for k, v in rows.iloc[0].items()} if len(rows) else {}
    except duckdb.Error as exc:  # a warehouse built before the debtor-side agent (issue 20)
        missing["agent"] = f"marts.mart_agent_kpis cannot be read ({type(exc).__name__}): run `cobranza run`"
    if data.agent:
        # Payment plans by instalment, kept or broken from the bank and ERP data: the same tracking the
        # decisions use (ml.agent.plan_tracking), over every customer's current plan.
        from cobranza.settings import load_settings
        from ml.agent import plan_tracking

        try:
            grace = load_settings().nba.promise_grace_days
            data.agent.update(plan_tracking.summary(plan_tracking.track_all(con, con, as_of, grace)))
        except duckdb.Error as exc:
            missing["agent_plans"] = f"payment plans cannot be tracked ({type(exc).__name__}: {exc})"
    return data


def _champion(tracking_uri: str, missing: dict[str, str]) -> dict[str, Any] | None:
    from ml import registry

    try:
        info = registry.champion_info(tracking_uri)
    except Exception as exc:  # an unreachable or foreign tracking store must not sink the whole report
        missing["model"] = f"MLflow at {tracking_uri} could not be read ({type(exc).__name__}: {exc})"
        return None
    if info is None:
        missing["model"] = f"no {registry.MODEL_NAME}@champion in {tracking_uri}: run `cobranza train`"
    return info


def _drift(con: duckdb.DuckDBPyConnection, as_of: date, missing: dict[str, str]) -> pd.DataFrame | None:
    """Feature drift of the latest scoring date up to ``as_of`` (marts.mart_model_drift over ml_scores.score_drift)."""
    try:
        frame = con.sql(f"select * from {DRIFT_MART}").to_arrow_table().to_pandas()
    except duckdb.Error as exc:
        missing["drift"] = (
            f"{DRIFT_MART} cannot be read ({type(exc).__name__}): run `cobranza run` to rebuild the marts "
            f"over {DRIFT_SOURCE}"
        )
        return None
    if frame.empty:
        missing["drift"] = f"{DRIFT_SOURCE} has no rows up to {as_of}: the daily run's score stage writes it"
        return None
    frame["feature"] = frame["feature"].astype(str).replace({"__score__": "model score"})
    frame.attrs["source"] = DRIFT_SOURCE
    return frame.sort_values("psi", ascending=False).reset_index(drop=True)
