"""Quality gates: run a checkpoint of Great Expectations suites over warehouse tables.

A checkpoint is named after the boundary it guards (STYLE.md): ``raw`` after ingestion,
``pre_dispatch`` before any customer is contacted (DESIGN.md §5). Each suite in it validates one
DuckDB table. GX 1.24 cannot validate DuckDB through SQLAlchemy (every expectation fails silently,
see STACK.md), so each table is read with DuckDB into pandas (only the columns the suite uses) and
validated as a dataframe batch through a GX context, following the GX Core 1.x pandas workflow
(suite + ``ValidationDefinition``; https://docs.greatexpectations.io/docs/core/run_validations).
A GX ``Checkpoint`` object is not used: it passes one set of batch parameters to all its
validation definitions, while every suite here needs its own dataframe.

The gate fails when any expectation tagged ``severity: critical`` fails; ``warning`` failures are
reported and the run goes on. Rows that fail a row-level expectation on a raw table are appended to
``quarantine.gx_failures`` with the reason.

Severity follows the blast radius (DESIGN.md §5). On a raw table, a critical row-level expectation
that fails for a few identified records (at most the suite's ``MAX_BAD_FRACTION``, default 5%)
quarantines those records instead of stopping the run: they get severity ``record`` and are listed
in ``quarantine.raw_excluded`` (replaced at every raw gate run, so a record corrected at the source
is back the next day), which the dbt staging models leave out, so nobody is contacted on them, while
every other record proceeds. More than that share is a systemic failure (a broken export, a
mis-mapped column) and stops the run, as does any table-level failure (a missing column).
A suite may declare ``DERIVED`` columns computed in SQL next to the table (e.g. whether an
invoice's customer exists in ``raw_erp.customers``) for checks that look at another table.

With ``gx_root`` the GX results (JSON) and a summary of each gate run are kept under that
directory, and Data Docs are built there on request.

Great Expectations is imported on the first run (about 5 s), not when this module is imported.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import duckdb
import pandas as pd
import pyarrow as pa

from cobranza.logmask import mask, mask_contact
from expectations import quarantine

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.data_context import AbstractDataContext

logger = logging.getLogger(__name__)

#: Checkpoint name -> suites it runs, in order.
CHECKPOINTS: dict[str, tuple[str, ...]] = {
    "raw": (
        "raw_erp__customers",
        "raw_erp__invoices",
        "raw_erp__credit_notes",
        "raw_erp__payment_allocations",
        "raw_crm__contacts",
        "raw_crm__interactions",
        "raw_crm__disputes",
        "raw_bank__statement_lines",
    ),
    "pre_dispatch": ("marts__fct_invoices", "marts__dim_customers", "marts__mart_ar_reconciliation"),
}

#: GX pandas result format: every failing row's index (the dataframe has a RangeIndex), values
#: left out to keep results small; keys and sample values are looked up in the dataframe.
RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",
    "exclude_unexpected_values": True,
    "return_unexpected_index_query": False,
}

SAMPLE_SIZE = 3
#: Default largest share of a raw table's rows a critical check may quarantine before it is systemic.
MAX_BAD_FRACTION = 0.05
#: An incremental gate judges the share of bad rows against at least this many rows: a few bad
#: records in a small day's batch are quarantined, not taken for a systemic failure.
MIN_SHARE_ROWS = 1000
#: Per raw table, the newest ``_loaded_at`` whose rows passed the raw gate (``incremental=True``).
MARKS_TABLE = "_cobranza.raw_gate_marks"
EXCLUDED_TABLE = "quarantine.raw_excluded"
REPO_ROOT = Path(__file__).resolve().parents[1]
DATASOURCE = "cobranza_warehouse"
BATCH_DEFINITION = "whole_table"
_NOT_RULE_ARGS = frozenset(
    {"column", "column_A", "column_B", "column_list", "batch_id", "row_condition", "condition_parser"}
)


class QualityGateError(RuntimeError):
    """A checkpoint had at least one critical failure; the run must stop here."""

    def __init__(self, result: GateResult) -> None:
        self.result = result
        super().__init__(result.summary())


@dataclass(frozen=True)
class SuiteSpec:
    """A suite module, loaded: what it validates and how to build its expectations.

    Attributes:
        name: Suite name, ``<layer>_<system>__<table>``, also the module name.
        table: Warehouse table, ``schema.table``.
        key: Columns identifying a row in reports and in the quarantine.
        build: ``build(as_of)`` returning the suite's GX expectations.
        derived: Column name -> (table it needs, SQL expression over the suite's table), computed
            when the table is read; ``true`` when the needed table does not exist.
        max_bad_fraction: Largest share of rows a critical check may quarantine (raw suites).
    """

    name: str
    table: str
    key: tuple[str, ...]
    build: Callable[[date], list[Any]] = field(repr=False)
    derived: dict[str, tuple[str, str]] = field(default_factory=dict, repr=False)
    max_bad_fraction: float = MAX_BAD_FRACTION

    @property
    def is_raw(self) -> bool:
        """Whether the suite guards a raw table (its failing rows are quarantined)."""
        return self.name.startswith("raw_")


@dataclass(frozen=True)
class Failure:
    """One failed expectation, readable on its own.

    Attributes:
        suite: Suite name.
        table: Table validated.
        column: Column(s) the expectation is about (``a/b`` for a pair), ``None`` for table-level.
        expectation: GX expectation type, e.g. ``expect_column_values_to_be_between``.
        severity: ``critical``, ``warning``, or ``record`` (a critical check on a raw table that
            failed for few enough records: those are quarantined and the run goes on).
        detail: What went wrong: counts and sample values, or the error that stopped evaluation.
        condition: Row condition the expectation applies under, if any.
        unexpected_count: Number of failing rows, when the expectation is row-level.
    """

    suite: str
    table: str
    column: str | None
    expectation: str
    severity: str
    detail: str
    condition: str | None = None
    unexpected_count: int | None = None

    def __str__(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        condition = f" where {self.condition}" if self.condition else ""
        return f"{where}: {self.expectation}{condition} {self.detail}"


@dataclass
class SuiteResult:
    """Outcome of one suite on one table.

    Attributes:
        suite: Suite name.
        table: Table validated.
        row_count: Rows validated (0 when the table is missing).
        failures: Failed expectations, critical first.
        quarantined: Rows appended to ``quarantine.gx_failures``.
        validation: The GX ``ExpectationSuiteValidationResult`` (``None`` if not validated).
    """

    suite: str
    table: str
    row_count: int
    failures: list[Failure] = field(default_factory=list)
    quarantined: int = 0
    validation: ExpectationSuiteValidationResult | None = field(default=None, repr=False, compare=False)

    @property
    def success(self) -> bool:
        """True unless a critical expectation failed."""
        return not any(f.severity == "critical" for f in self.failures)


@dataclass
class GateResult:
    """Outcome of a checkpoint: go (``success``) or no-go, and why.

    Attributes:
        checkpoint: Checkpoint name.
        as_of: Business date the date bounds were computed for.
        checked_at: UTC time of the run (also ``checked_at`` in the quarantine).
        results: Per suite name, its :class:`SuiteResult`.
        skipped: Tables of the checkpoint not validated because they do not exist (``raw`` only).
        docs_url: Data Docs index, when built.
    """

    checkpoint: str
    as_of: date
    checked_at: datetime
    results: dict[str, SuiteResult] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    docs_url: str | None = None

    @property
    def critical_failures(self) -> list[str]:
        """Readable critical failures: table, column, expectation, count and sample values."""
        return [str(f) for r in self.results.values() for f in r.failures if f.severity == "critical"]

    @property
    def warnings(self) -> list[str]:
        """Readable warning-level failures."""
        return [str(f) for r in self.results.values() for f in r.failures if f.severity == "warning"]

    @property
    def record_failures(self) -> list[str]:
        """Critical checks that quarantined a few records (left out downstream) instead of stopping the run."""
        return [str(f) for r in self.results.values() for f in r.failures if f.severity == "record"]

    @property
    def success(self) -> bool:
        """False if any critical expectation failed."""
        return not self.critical_failures

    @property
    def quarantined(self) -> int:
        """Rows appended to ``quarantine.gx_failures`` by this run."""
        return sum(r.quarantined for r in self.results.values())

    def summary(self) -> str:
        """Multi-line text: verdict, then every critical failure and warning."""
        verdict = "passed" if self.success else "FAILED"
        lines = [
            f"quality gate {self.checkpoint!r} {verdict} as of {self.as_of}: "
            f"{len(self.results)} suite(s), {len(self.critical_failures)} critical failure(s), "
            f"{len(self.warnings)} warning(s), {self.quarantined} row(s) quarantined"
        ]
        lines += [f"  CRITICAL {msg}" for msg in self.critical_failures]
        lines += [f"  records quarantined {msg}" for msg in self.record_failures]
        lines += [f"  warning  {msg}" for msg in self.warnings]
        if self.skipped:
            lines.append(f"  skipped (table missing): {', '.join(self.skipped)}")
        return "\n".join(lines)

    def raise_if_failed(self) -> None:
        """Raise :class:`QualityGateError` (message: :meth:`summary`) if a critical check failed."""
        if not self.success:
            raise QualityGateError(self)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the GX result objects)."""
        return {
            "checkpoint": self.checkpoint,
            "as_of": self.as_of.isoformat(),
            "checked_at": self.checked_at.isoformat(),
            "success": self.success,
            "critical_failures": self.critical_failures,
            "warnings": self.warnings,
            "record_failures": self.record_failures,
            "skipped": self.skipped,
            "quarantined": self.quarantined,
            "docs_url": self.docs_url,
            "results": {
                name: {
                    "table": r.table,
                    "success": r.success,
                    "row_count": r.row_count,
                    "quarantined": r.quarantined,
                    "failures": [
                        {
                            "column": f.column,
                            "expectation": f.expectation,
                            "severity": f.severity,
                            "condition": f.condition,
                            "unexpected_count": f.unexpected_count,
                            "message": str(f),
                        }
                        for f in r.failures
                    ],
                }
                for name, r in self.results.items()
            },
        }


def load_suite(name: str) -> SuiteSpec:
    """Import ``expectations.suites.<name>`` and describe it.

    Args:
        name: Suite name, e.g. ``raw_erp__invoices``.

    Returns:
        The suite's :class:`SuiteSpec`.
    """
    module: ModuleType = importlib.import_module(f"expectations.suites.{name}")
    return SuiteSpec(
        name=name,
        table=module.TABLE,
        key=tuple(module.KEY),
        build=module.build,
        derived=dict(getattr(module, "DERIVED", {})),
        max_bad_fraction=getattr(module, "MAX_BAD_FRACTION", MAX_BAD_FRACTION),
    )


def select_suites(checkpoint: str, tables: Sequence[str] | None = None) -> list[SuiteSpec]:
    """Suites of ``checkpoint``, optionally only those for ``tables``.

    Args:
        checkpoint: A key of :data:`CHECKPOINTS`.
        tables: Table names (``raw_erp.invoices``) or suite names to keep; ``None`` keeps all.

    Returns:
        The selected suites in checkpoint order.

    Raises:
        ValueError: Unknown checkpoint, or a table that no suite of the checkpoint validates.
    """
    if checkpoint not in CHECKPOINTS:
        raise ValueError(f"unknown checkpoint {checkpoint!r}; known checkpoints: {', '.join(CHECKPOINTS)}")
    specs = [load_suite(name) for name in CHECKPOINTS[checkpoint]]
    if tables is None:
        return specs
    wanted = set(tables)
    known = {s.table for s in specs} | {s.name for s in specs}
    if unknown := sorted(wanted - known):
        raise ValueError(
            f"checkpoint {checkpoint!r} has no suite for {', '.join(unknown)}; "
            f"its tables are: {', '.join(s.table for s in specs)}"
        )
    return [s for s in specs if s.table in wanted or s.name in wanted]


def run_checkpoint(
    name: str,
    con: duckdb.DuckDBPyConnection,
    tables: list[str] | None = None,
    gx_root: Path | None = None,
    *,
    as_of: date | None = None,
    build_docs: bool = False,
    incremental: bool = False,
) -> GateResult:
    """Validate the checkpoint's tables and return the verdict.

    Args:
        name: ``raw`` (every raw suite whose table exists) or ``pre_dispatch`` (the mart suites).
        con: Open DuckDB connection to the warehouse; it must be writable when raw rows can be
            quarantined.
        tables: Only these tables (or suite names). A table named here, or a mart table, that does
            not exist is a critical failure; a missing raw table is otherwise skipped.
        gx_root: Directory for a GX File Data Context holding results (JSON) and Data Docs, plus
            ``gates/<checkpoint>/<time>.json`` summaries. Generated data: keep it outside the
            repository. ``None`` validates in memory and keeps nothing but the quarantine rows.
        as_of: Business date for the date bounds (an event may not lie after it); default today (UTC).
        build_docs: Build GX Data Docs under ``gx_root`` (requires ``gx_root``).
        incremental: Raw suites validate only the rows landed since the last validation of their
            table that passed (``_loaded_at`` after the table's mark in :data:`MARKS_TABLE`), and
            replace the exclusions of those records only; a table with nothing new is not read.
            The share of bad rows that makes a failure systemic is then of the rows validated, at
            least :data:`MIN_SHARE_ROWS`. Without a mark the whole table is validated. Mart suites
            always validate whole tables.

    Returns:
        The :class:`GateResult`; call ``raise_if_failed()`` to stop on critical failures.

    Raises:
        ValueError: Unknown checkpoint or table, or ``build_docs`` without ``gx_root``.
    """
    if build_docs and gx_root is None:
        raise ValueError("build_docs=True needs gx_root: Data Docs are written under it")
    if gx_root is not None:
        _check_outside_repo(Path(gx_root))
    specs = select_suites(name, tables)
    checked_at = datetime.now(UTC).replace(tzinfo=None)
    gate = GateResult(checkpoint=name, as_of=as_of or checked_at.date(), checked_at=checked_at)

    from expectations import _gx  # deferred: importing GX costs ~5 s

    context = _gx.get_context(gx_root)
    run_id = _gx.RunIdentifier(run_name=f"{name}-{gate.as_of.isoformat()}", run_time=checked_at.replace(tzinfo=UTC))
    for spec in specs:
        if not _table_exists(con, spec.table):
            if spec.is_raw and tables is None:
                logger.info("gate %s: %s does not exist, suite %s skipped", name, spec.table, spec.name)
                gate.skipped.append(spec.table)
                continue
            gate.results[spec.name] = _missing_table(spec)
            continue
        since, through = _validation_window(con, spec, incremental)
        if since is not None and (through is None or through <= since):
            logger.info(
                "gate %s: nothing landed in %s since %s, suite %s not re-run", name, spec.table, since, spec.name
            )
            gate.results[spec.name] = SuiteResult(suite=spec.name, table=spec.table, row_count=0, failures=[])
            continue
        suite_result, quarantine_rows, keys = _validate(
            context, con, spec, gate.as_of, run_id, checked_at, since=since, through=through
        )
        if spec.is_raw and not quarantine_rows.empty:
            suite_result.quarantined = quarantine.append(con, quarantine_rows)
        if spec.is_raw:
            _replace_excluded(con, spec.table, quarantine_rows, only_keys=keys if since is not None else None)
            if through is not None and not any(f.severity == "critical" for f in suite_result.failures):
                _set_mark(con, spec.table, through)
        gate.results[spec.name] = suite_result

    if build_docs:
        sites = context.build_data_docs()
        gate.docs_url = next(iter(sites.values()), None)
    if gx_root is not None:
        _write_summary(Path(gx_root), gate)
    _log(gate)
    return gate


def _check_outside_repo(gx_root: Path) -> None:
    """Refuse a ``gx_root`` in the committed tree: GX writes config, suites and results there."""
    repo = REPO_ROOT.resolve()
    target = gx_root.resolve()
    if target.is_relative_to(repo) and not target.is_relative_to(repo / "data"):
        raise ValueError(
            f"gx_root {gx_root} lies inside the repository {repo}; GX results are generated data: "
            f"use a directory outside it or under {repo / 'data'} (git-ignored)"
        )


def _table_exists(con: duckdb.DuckDBPyConnection, table: str) -> bool:
    schema, _, name = table.rpartition(".")
    # fetchall, not fetchone: DuckDB 2 refuses further work on a connection with an unfinished result.
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
        [schema or "main", name],
    ).fetchall()
    return bool(rows[0][0])


def _missing_table(spec: SuiteSpec) -> SuiteResult:
    failure = Failure(
        suite=spec.name,
        table=spec.table,
        column=None,
        expectation="table_exists",
        severity="critical",
        detail="failed: the table does not exist (did the upstream step run?)",
    )
    return SuiteResult(suite=spec.name, table=spec.table, row_count=0, failures=[failure])


def _validate(
    context: AbstractDataContext,
    con: duckdb.DuckDBPyConnection,
    spec: SuiteSpec,
    as_of: date,
    run_id: Any,
    checked_at: datetime,
    *,
    since: datetime | None = None,
    through: datetime | None = None,
) -> tuple[SuiteResult, pd.DataFrame, pd.Series | None]:
    """Run one suite on its table (the rows landed in ``(since, through]`` when ``since`` is set).

    Returns the result, the quarantine rows it produced and the record keys it validated (raw suites).
    """
    from expectations._gx import gx

    expectations = spec.build(as_of)
    suite = context.suites.add_or_update(gx.ExpectationSuite(name=spec.name, expectations=expectations))
    batch_definition = _batch_definition(context, spec.table)
    validation = context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=spec.name, data=batch_definition, suite=suite)
    )
    columns = _referenced_columns(expectations, spec.key)
    if spec.is_raw and "customer_id" not in columns:
        columns.append("customer_id")  # kept with an excluded record: whom it concerns
    window = None
    if since is not None:  # incremental: the rows landed after the mark, up to what the mark will become
        window = f"t._loaded_at > '{since.isoformat(sep=' ')}'"
        if through is not None:
            window += f" and t._loaded_at <= '{through.isoformat(sep=' ')}'"
    frame = _read_table(con, spec.table, columns, _derived_sql(con, spec), where=window)
    gx_result = validation.run(batch_parameters={"dataframe": frame}, result_format=RESULT_FORMAT, run_id=run_id)

    failures: list[Failure] = []
    quarantine_rows: list[pd.DataFrame] = []
    key = [c for c in spec.key if c in frame.columns]
    for outcome in gx_result.results:
        if outcome.success:
            continue
        failure, rows = _interpret(spec, frame, key, outcome, checked_at)
        if (
            spec.is_raw
            and failure.severity == "critical"
            and rows is not None
            and failure.unexpected_count
            and failure.unexpected_count <= spec.max_bad_fraction * max(len(frame), MIN_SHARE_ROWS if since else 1)
        ):
            # A few identified bad records: quarantine them (left out downstream), the run goes on.
            failure = Failure(**{**failure.__dict__, "severity": "record"})
            rows = rows.assign(severity="record")
        failures.append(failure)
        if rows is not None:
            quarantine_rows.append(rows)
    failures.sort(key=lambda f: f.severity != "critical")
    result = SuiteResult(
        suite=spec.name, table=spec.table, row_count=len(frame), failures=failures, validation=gx_result
    )
    rows = pd.concat(quarantine_rows, ignore_index=True) if quarantine_rows else pd.DataFrame()
    return result, rows, (_record_keys(frame, key) if spec.is_raw and key else None)


def _batch_definition(context: AbstractDataContext, table: str) -> Any:
    """The whole-dataframe batch definition of ``table``'s asset, created on first use."""
    try:
        source = context.data_sources.get(DATASOURCE)
    except KeyError:
        source = context.data_sources.add_pandas(DATASOURCE)
    try:
        asset = source.get_asset(table)
    except LookupError:
        asset = source.add_dataframe_asset(table)
    try:
        return asset.get_batch_definition(BATCH_DEFINITION)
    except KeyError:
        return asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)


def _referenced_columns(expectations: Sequence[Any], key: Sequence[str]) -> list[str]:
    """Key columns plus every column an expectation or row condition mentions, in first-use order."""
    seen: dict[str, None] = dict.fromkeys(key)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            column = node.get("column")
            if isinstance(column, dict) and isinstance(column.get("name"), str):
                seen.setdefault(column["name"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list | tuple):
            for value in node:
                walk(value)

    for expectation in expectations:
        kwargs = expectation.configuration.kwargs
        for name in ("column", "column_A", "column_B"):
            if isinstance(kwargs.get(name), str):
                seen.setdefault(kwargs[name])
        for name in kwargs.get("column_list") or ():
            seen.setdefault(name)
        condition = kwargs.get("row_condition")
        walk(condition.dict() if hasattr(condition, "dict") else condition)
    return list(seen)


def _derived_sql(con: duckdb.DuckDBPyConnection, spec: SuiteSpec) -> dict[str, str]:
    """The suite's derived columns as SQL; ``true`` where the table they look at does not exist."""
    return {name: (expr if _table_exists(con, needs) else "true") for name, (needs, expr) in spec.derived.items()}


def _read_table(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[str],
    derived: dict[str, str] | None = None,
    where: str | None = None,
) -> pd.DataFrame:
    """Read the existing ``columns`` of ``table`` (and ``derived`` SQL columns) into pandas, fresh RangeIndex.

    Missing columns are left out: their ``expect_column_to_exist`` reports them, and the
    expectations that use them fail with an error instead of reading wrong data.
    """
    derived = derived or {}
    relation = con.table(table)
    present = [c for c in columns if c in relation.columns]
    if derived or where:
        items = [f'"{c}"' for c in present] + [f'({expr}) as "{name}"' for name, expr in derived.items()]
        sql = f"select {', '.join(items) or '*'} from {table} as t" + (f" where {where}" if where else "")
        return con.sql(sql).df().reset_index(drop=True)
    frame = relation.select(*(duckdb.ColumnExpression(c) for c in present)).df() if present else relation.df()
    return frame.reset_index(drop=True)


def ensure_excluded_table(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``quarantine.raw_excluded`` empty if it does not exist (idempotent).

    The dbt project reads it as a source (models/staging/ops): it must exist before the first build,
    even on a warehouse whose raw gate has not run yet.
    """
    con.execute("create schema if not exists quarantine")
    con.execute(
        f"create table if not exists {EXCLUDED_TABLE} (table_name varchar not null, record_key varchar not null, "
        "customer_id varchar, reason varchar not null, checked_at timestamp not null)"
    )


def _replace_excluded(
    con: duckdb.DuckDBPyConnection, table: str, rows: pd.DataFrame, only_keys: pd.Series | None = None
) -> None:
    """Make ``quarantine.raw_excluded`` hold exactly this run's quarantined records of ``table``.

    The dbt staging models leave these records out; a record fixed at the source passes the next
    gate run and is back. One row per record: the first reason is kept, with the customer concerned.
    With ``only_keys`` (an incremental gate: the records it validated) only those records'
    exclusions are replaced; the others' stand.
    """
    ensure_excluded_table(con)
    if only_keys is None:
        con.execute(f"delete from {EXCLUDED_TABLE} where table_name = ?", [table])
    else:
        keys = pa.table({"record_key": pa.array(only_keys.dropna().astype(str).unique(), type=pa.string())})
        con.register("_cobranza_validated_keys", keys)
        try:
            con.execute(
                f"delete from {EXCLUDED_TABLE} where table_name = ? "
                "and record_key in (select record_key from _cobranza_validated_keys)",
                [table],
            )
        finally:
            con.unregister("_cobranza_validated_keys")
    if rows.empty or "severity" not in rows:
        return
    excluded = rows[(rows["severity"] == "record") & rows["record_key"].notna()]
    excluded = excluded.drop_duplicates(subset=["record_key"])
    if excluded.empty:
        return
    frame = excluded.reindex(columns=["table_name", "record_key", "customer_id", "reason", "checked_at"])
    con.register("_cobranza_excluded_rows", frame)
    try:
        con.execute(f"insert into {EXCLUDED_TABLE} select * from _cobranza_excluded_rows")
    finally:
        con.unregister("_cobranza_excluded_rows")


def _validation_window(
    con: duckdb.DuckDBPyConnection, spec: SuiteSpec, incremental: bool
) -> tuple[datetime | None, datetime | None]:
    """``(since, through)`` of the rows a raw suite validates: ``since`` None = the whole table.

    ``through`` is the table's newest ``_loaded_at`` now (the mark set when the suite passes).
    """
    if not spec.is_raw or "_loaded_at" not in con.table(spec.table).columns:
        return None, None
    through = con.execute(f"select max(_loaded_at) from {spec.table}").fetchall()[0][0]
    if not incremental:
        return None, through
    _ensure_marks(con)
    mark = con.execute(f"select validated_through from {MARKS_TABLE} where table_name = ?", [spec.table]).fetchall()
    return (mark[0][0] if mark else None), through


def _ensure_marks(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists _cobranza")
    con.execute(
        f"create table if not exists {MARKS_TABLE} (table_name varchar primary key, validated_through timestamp)"
    )


def _set_mark(con: duckdb.DuckDBPyConnection, table: str, through: datetime) -> None:
    """Record that ``table``'s rows landed up to ``through`` passed the raw gate."""
    _ensure_marks(con)
    con.execute(f"insert or replace into {MARKS_TABLE} values (?, ?)", [table, through])


def _record_keys(frame: pd.DataFrame, key: list[str]) -> pd.Series:
    """Each row's record key as the quarantine writes it (``a|b`` for a compound key)."""
    if len(key) > 1:
        return frame[key].astype(str).agg("|".join, axis=1)
    return frame[key[0]].astype(str)


def _interpret(
    spec: SuiteSpec,
    frame: pd.DataFrame,
    key: list[str],
    outcome: Any,
    checked_at: datetime,
) -> tuple[Failure, pd.DataFrame | None]:
    """Turn one failed GX expectation result into a :class:`Failure` and its quarantine rows."""
    config = outcome.expectation_config
    kwargs = config.kwargs
    columns = _domain_columns(kwargs)
    level = (config.meta or {}).get("severity") or _enum_value(config.severity)
    condition = _describe_condition(kwargs.get("row_condition"))
    result = outcome.result or {}
    error = _exception_message(outcome.exception_info)
    indices = result.get("unexpected_index_list")
    unexpected = result.get("unexpected_count")
    rows: pd.DataFrame | None = None

    if error:
        detail = f"could not be evaluated: {error}"
    elif unexpected is not None:
        detail = f"failed for {unexpected} of {result.get('element_count')} rows"
        valid = [i for i in indices or () if i in frame.index]
        if valid:
            detail += f" (e.g. {_samples(frame, key, columns, config.type, valid[:SAMPLE_SIZE])})"
            if key:
                rows = _quarantine_rows(spec, frame, key, columns, config, condition, level, valid, checked_at)
    else:
        observed = result.get("observed_value")
        detail = "failed" if observed is None else f"failed (observed {observed})"
        if config.type == "expect_column_to_exist":
            detail = "failed: the column is missing"

    failure = Failure(
        suite=spec.name,
        table=spec.table,
        column="/".join(columns) or None,
        expectation=config.type,
        severity=level,
        detail=detail,
        condition=condition or None,
        unexpected_count=unexpected,
    )
    return failure, rows


def _domain_columns(kwargs: dict[str, Any]) -> list[str]:
    if kwargs.get("column"):
        return [kwargs["column"]]
    if kwargs.get("column_A") and kwargs.get("column_B"):
        return [kwargs["column_A"], kwargs["column_B"]]
    return list(kwargs.get("column_list") or [])


def _enum_value(value: Any) -> str:
    return str(getattr(value, "value", value))


def _exception_message(info: Any) -> str | None:
    """First raised exception's message in a GX ``exception_info`` (flat or keyed by metric)."""
    if not isinstance(info, dict):
        return None
    if "raised_exception" in info:
        return (info.get("exception_message") or "unknown error") if info.get("raised_exception") else None
    for value in info.values():
        if message := _exception_message(value):
            return message
    return None


def _describe_condition(condition: Any) -> str:
    if condition is None or condition == "":
        return ""
    from expectations._gx import deserialize_row_condition

    parsed = deserialize_row_condition(condition) if isinstance(condition, dict) else condition
    return parsed if isinstance(parsed, str) else repr(parsed)


def _format_value(value: Any) -> str:
    if value is None or (not isinstance(value, list | tuple | dict) and pd.isna(value)):
        return "NULL"
    if isinstance(value, pd.Timestamp | datetime):
        return value.strftime("%Y-%m-%d") if value.time() == time.min else value.isoformat(sep=" ")
    return str(value)


def _format_key(frame: pd.DataFrame, key: list[str], index: Any) -> str:
    return "|".join(_format_value(frame.at[index, c]) for c in key)


def _values_only_matter_as_keys(expectation_type: str, columns: list[str], key: list[str]) -> bool:
    # For null checks the value is always NULL; for key uniqueness the value is the key itself.
    return expectation_type == "expect_column_values_to_not_be_null" or (bool(key) and set(columns) <= set(key))


def _values_text(frame: pd.DataFrame, columns: list[str], index: Any) -> str:
    present = [c for c in columns if c in frame.columns]
    # A sample of a phone or e-mail column is masked as a whole (it is shown in logs and summaries).
    shown = {c: mask_contact(_format_value(frame.at[index, c]), c) for c in present}
    if len(present) == 1:
        return shown[present[0]]
    return ", ".join(f"{c}={shown[c]}" for c in present)


def _samples(frame: pd.DataFrame, key: list[str], columns: list[str], expectation_type: str, indices: list) -> str:
    parts: list[str] = []
    for index in indices:
        if key and _values_only_matter_as_keys(expectation_type, columns, key):
            parts.append(_format_key(frame, key, index))
        elif key:
            parts.append(f"{_format_key(frame, key, index)}: {_values_text(frame, columns, index)}")
        else:
            parts.append(_values_text(frame, columns, index))
    # Samples go to logs, run summaries and Data Docs: a phone number or address is shown masked.
    return mask("; ".join(dict.fromkeys(parts)))


def _rule_text(config: Any) -> str:
    args = []
    for name, value in config.kwargs.items():
        if name in _NOT_RULE_ARGS or value is None:
            continue
        if isinstance(value, list | tuple | set | frozenset) and len(value) > 6:
            args.append(f"{name}=<{len(value)} values>")
        elif isinstance(value, datetime):
            args.append(f"{name}={_format_value(value)}")
        else:
            args.append(f"{name}={value!r}")
    return f"{config.type}({', '.join(args)})"


def _format_series(values: pd.Series) -> pd.Series:
    """Vectorised :func:`_format_value` for a column of failing rows."""
    if pd.api.types.is_datetime64_any_dtype(values):
        midnight = values.dropna().eq(values.dropna().dt.normalize()).all()
        text = values.dt.strftime("%Y-%m-%d" if midnight else "%Y-%m-%d %H:%M:%S")
    else:
        text = values.astype(str)
    return text.where(values.notna(), "NULL").astype(object)


def _quarantine_rows(
    spec: SuiteSpec,
    frame: pd.DataFrame,
    key: list[str],
    columns: list[str],
    config: Any,
    condition: str,
    level: str,
    indices: list,
    checked_at: datetime,
) -> pd.DataFrame:
    """One quarantine row per failing record (rows sharing a key collapse to one)."""
    failing = frame.loc[indices]
    rule = _rule_text(config) + (f" where {condition}" if condition else "")
    why = (config.meta or {}).get("why")
    if why:
        rule += f": {why}"
    record_key = failing[key].astype(str).agg("|".join, axis=1) if len(key) > 1 else failing[key[0]].astype(str)
    record_key = record_key.where(failing[key].notna().all(axis=1), None).astype(object)
    if _values_only_matter_as_keys(config.type, columns, key):
        reason = pd.Series(f"{'/'.join(columns)} fails {rule}", index=failing.index)
    else:
        present = [c for c in columns if c in failing.columns]
        parts = [f"{c}=" + _format_series(failing[c]) for c in present]
        values = parts[0].str.cat(parts[1:], sep=", ") if len(parts) > 1 else parts[0]
        reason = values + f" fails {rule}"
    rows = pd.DataFrame(
        {
            "checked_at": checked_at,
            "table_name": spec.table,
            "record_key": record_key,
            "expectation": config.type,
            "severity": level,
            "reason": reason.astype(object),
            "suite_name": spec.name,
            "column_name": "/".join(columns) or None,
            "customer_id": failing["customer_id"].astype(object) if "customer_id" in failing else None,
        }
    )
    return rows.drop_duplicates(subset=["record_key"]).reset_index(drop=True)


def _write_summary(gx_root: Path, gate: GateResult) -> Path:
    target = gx_root / "gates" / gate.checkpoint / f"{gate.checked_at.strftime('%Y%m%dT%H%M%S%fZ')}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(gate.to_dict(), indent=2, default=str) + "\n", encoding="utf-8")
    return target


def _log(gate: GateResult) -> None:
    for message in gate.critical_failures:
        logger.error("gate %s: CRITICAL %s", gate.checkpoint, message)
    for message in gate.warnings:
        logger.warning("gate %s: warning %s", gate.checkpoint, message)
    for message in gate.record_failures:
        logger.warning("gate %s: records quarantined (left out, the run goes on): %s", gate.checkpoint, message)
    logger.info(
        "gate %s %s: %d suite(s), %d critical, %d warning(s), %d quarantined, %d skipped",
        gate.checkpoint,
        "passed" if gate.success else "FAILED",
        len(gate.results),
        len(gate.critical_failures),
        len(gate.warnings),
        gate.quarantined,
        len(gate.skipped),
    )
