"""The ``kpi_report`` flow: write the self-contained collections KPI report for a date and scope.

Orchestration only: reads the settings (the published read copy of the warehouse, MLflow URI, data
folder) and calls ``cobranza.report.build_report``. Run it ad hoc (``python -m flows.report``), from the CLI
(``cobranza report`` calls the same builder without Prefect) or as a Prefect deployment; the
report lands in ``<data_dir>/reports/`` unless ``out`` says otherwise.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.logging import get_run_logger

from cobranza import runtime
from cobranza.settings import load_settings

runtime.apply_defaults()


@task(name="build-kpi-report")
def build_kpi_report(
    warehouse: Path,
    out: Path,
    tracking_uri: str,
    as_of: date | None,
    segment: str | None,
    country: str | None,
    read_only: bool = False,
) -> dict[str, Any]:
    """Read the warehouse and the registry and write the HTML report (one side effect: the file)."""
    from cobranza.report import build_report

    result = build_report(
        warehouse, out, as_of=as_of, segment=segment, country=country, tracking_uri=tracking_uri, read_only=read_only
    ).as_dict()
    log = get_run_logger()
    log.info("KPI report for %s (%s) written to %s", result["as_of"], result["scope"], result["path"])
    for name, why in result["unavailable"].items():
        log.warning("report section %s: data not available yet: %s", name, why)
    return result


@flow(name="kpi_report", log_prints=False)
def kpi_report(
    as_of: date | None = None,
    segment: str | None = None,
    country: str | None = None,
    out: str | None = None,
) -> dict[str, Any]:
    """Write the KPI report and return its summary (path, headline figures, insights).

    Args:
        as_of: Report date (default: the date of the last daily run).
        segment: Optional customer segment, e.g. ``enterprise``.
        country: Optional ISO country code, e.g. ``MX``.
        out: Output file or folder (default: ``<data_dir>/reports``).
    """
    settings = load_settings()
    target = Path(out) if out else settings.data_dir / "reports"
    if not out:
        target.mkdir(parents=True, exist_ok=True)
    # The published read copy (never the file the flows write); a warehouse from before it existed as is.
    copy = settings.published_path.exists()
    source = settings.published_path if copy else settings.duckdb_path
    return build_kpi_report(source, target, settings.tracking_uri, as_of, segment, country, read_only=copy)


if __name__ == "__main__":  # pragma: no cover - manual entry
    print(kpi_report())  # noqa: T201
