"""The on-demand collections KPI report (issue 8): one self-contained HTML page for a date and scope.

``build_report`` reads the warehouse built by the daily run (DuckDB) and the MLflow registry, draws
the charts as inline SVG and writes the page; ``cobranza report`` and the ``kpi_report`` Prefect
flow call it. Layout: ``queries.py`` + ``sql/`` (what is read), ``figures.py`` (charts),
``insights.py`` (findings computed from the data), ``templates/report.html.j2`` (the page).
"""

from cobranza.report.build import ReportResult, build_report, render
from cobranza.report.queries import ReportData, ReportDataError, load_report_data

__all__ = ["ReportData", "ReportDataError", "ReportResult", "build_report", "load_report_data", "render"]
