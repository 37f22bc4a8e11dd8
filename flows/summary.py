"""The run summary: rows per layer, model quality, actions by channel and where to look next."""

from __future__ import annotations

from typing import Any

from flows.context import RunContext

RAW_SCHEMAS = ["raw_erp", "raw_crm", "raw_bank"]


def _jsonable(value: Any) -> Any:
    """Decimal and dates as strings, NaN/None as null, numbers as they are."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def summarise_run(ctx: RunContext, stages: dict[str, Any]) -> dict[str, Any]:
    """Rows per layer, model quality, actions by channel and where to look next."""
    from connectors import warehouse
    from ml import registry

    with warehouse.connect(ctx.warehouse) as con:
        counts = warehouse.row_counts(
            con, [*RAW_SCHEMAS, "staging", "intermediate", "marts", "quarantine", "outbox", "ml_scores"]
        )
        kpis = warehouse.read_frame(
            con, "marts.mart_collections_kpis", "segment = 'all' and country = 'all'", order_by="currency"
        ).to_dict("records")
    layers = {schema: sum(tables.values()) for schema, tables in counts.items()}
    champion = registry.champion_info(ctx.settings.tracking_uri)
    s = ctx.settings
    return {
        "as_of": ctx.as_of.isoformat(),
        "company_day": ctx.company_day(),
        "rows_per_layer": layers,
        "rows_per_table": counts,
        "model": champion,
        "champion_why": (champion or {}).get("promotion_decision"),
        "training": stages.get("train"),
        "drift": (stages.get("score") or {}).get("drift"),
        "actions_by_channel": stages.get("decide", {}).get("actions", {}),
        "decisions": stages.get("decide", {}),
        "dispatch": stages.get("dispatch", {}),
        "kpis": [{k: _jsonable(v) for k, v in r.items()} for r in kpis],
        "quarantined_files": [
            {"stream": x["stream"], "file": x["origin"], "reason": x["error"]}
            for x in stages.get("ingest") or []
            if isinstance(x, dict) and x.get("status") == "quarantined"
        ],
        "where_next": {
            "warehouse": str(ctx.warehouse),
            "mlflow_ui": f"mlflow ui --backend-store-uri {ctx.settings.tracking_uri} --workers 1",
            "prefect_ui": "prefect server start  (then: prefect deploy --all)",
            "dbt_docs": "make docs  (dbt docs generate + serve on the warehouse)",
            "kpi_report": "cobranza report  (self-contained HTML KPI report in <data_dir>/reports)",
            "dry_run_messages": str(s.resolve(s.channels.outbox_dir)),
            "gx_data_docs": (stages.get("gate_marts") or {}).get("data_docs") or "",
        },
    }
