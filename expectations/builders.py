"""Small builders the suite modules share, so each suite reads as a list of rules.

Every expectation carries its severity twice: in GX Core's own ``severity`` field (1.24 renders it
in Data Docs) and in ``meta={"severity": ...}``, which is what the gate reads. ``critical`` means
the run must stop before any customer is contacted; ``warning`` means the bad rows are quarantined
and reported while the run goes on.

Dates: DuckDB ``DATE``/``TIMESTAMP`` columns arrive in pandas as ``datetime64``; GX compares them
only with ``datetime.datetime`` bounds (a ``datetime.date`` bound makes the expectation fail without
an error), so :func:`day` converts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from expectations._gx import gxe

Severity = Literal["critical", "warning"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning")

FUTURE_SLACK = timedelta(days=1)


def severity(level: Severity) -> dict[str, Any]:
    """Keyword arguments that tag an expectation with a severity.

    Args:
        level: ``critical`` or ``warning``.

    Returns:
        ``severity`` and ``meta`` keyword arguments for any GX expectation class (fresh dicts, since
        GX may annotate ``meta``).
    """
    if level not in SEVERITIES:
        raise ValueError(f"severity must be one of {SEVERITIES}, got {level!r}")
    return {"severity": level, "meta": {"severity": level}}


def critical() -> dict[str, Any]:
    """Keyword arguments for an expectation whose failure stops the run."""
    return severity("critical")


def warning() -> dict[str, Any]:
    """Keyword arguments for an expectation whose failure is reported but lets the run go on."""
    return severity("warning")


def day(value: date) -> datetime:
    """Return midnight of ``value`` as a naive ``datetime``, the bound type GX compares correctly."""
    if isinstance(value, datetime):
        return value
    return datetime.combine(value, time.min)


def columns_exist(columns: Iterable[str]) -> list[gxe.Expectation]:
    """One critical ``expect_column_to_exist`` per column: schema drift stops the gate clearly."""
    return [gxe.ExpectColumnToExist(column=c, **critical()) for c in columns]


def primary_key(key: Sequence[str]) -> list[gxe.Expectation]:
    """Critical expectations that ``key`` is not null and unique.

    Args:
        key: Key column names; a compound key gets ``expect_compound_columns_to_be_unique``.

    Returns:
        The expectations, not-null first.
    """
    rules: list[gxe.Expectation] = [gxe.ExpectColumnValuesToNotBeNull(column=c, **critical()) for c in key]
    if len(key) == 1:
        rules.append(gxe.ExpectColumnValuesToBeUnique(column=key[0], **critical()))
    else:
        rules.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(key), **critical()))
    return rules


def not_null(columns: Iterable[str], level: Severity) -> list[gxe.Expectation]:
    """One ``expect_column_values_to_not_be_null`` per column, at ``level``."""
    return [gxe.ExpectColumnValuesToNotBeNull(column=c, **severity(level)) for c in columns]


def in_set(column: str, values: Iterable[Any], level: Severity) -> gxe.Expectation:
    """``expect_column_values_to_be_in_set`` with a sorted value list (stable suite JSON)."""
    return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=sorted(values), **severity(level))


def non_negative(column: str, level: Severity = "critical") -> gxe.Expectation:
    """``column >= 0`` (nulls are left to the not-null expectations)."""
    return gxe.ExpectColumnValuesToBeBetween(column=column, min_value=0, **severity(level))


def date_between(column: str, earliest: date, latest: date, level: Severity) -> gxe.Expectation:
    """``earliest <= column <= latest`` for a DATE or TIMESTAMP column, both days inclusive."""
    return gxe.ExpectColumnValuesToBeBetween(
        column=column,
        min_value=day(earliest),
        max_value=datetime.combine(latest, time(23, 59, 59, 999999)),
        **severity(level),
    )


def at_least(column_a: str, column_b: str, level: Severity) -> gxe.Expectation:
    """``column_a >= column_b`` row by row (dates or amounts); rows with either null are skipped."""
    return gxe.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A=column_a,
        column_B=column_b,
        or_equal=True,
        ignore_row_if="either_value_is_missing",
        **severity(level),
    )


def has_rows(level: Severity) -> gxe.Expectation:
    """The table is not empty."""
    return gxe.ExpectTableRowCountToBeBetween(min_value=1, **severity(level))


def latest_event_date(as_of: date) -> date:
    """Latest plausible date for an event that has already happened, seen on ``as_of``.

    One day of slack, because a source in a time zone ahead of ours is already on ``as_of + 1``.
    """
    return as_of + FUTURE_SLACK
