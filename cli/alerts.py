"""``cobranza alerts``: list early-warning alerts and change their status (issue 21, DESIGN.md §13).

``cobranza alerts [--status S] [--json]`` lists the alerts with their current status, newest first;
``cobranza alerts ack|resolve|false-positive ID [--by NAME] [--note TEXT]`` appends a status change
(``ml.alerts.lifecycle``: the history is never rewritten). ID may be a unique prefix. With
``--json`` each prints one JSON object on stdout.
"""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

alerts_app = typer.Typer(help="Early-warning alerts: list them, acknowledge, resolve or mark false positive.")
console = Console()
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
ByOpt = Annotated[str | None, typer.Option("--by", help="Who changes it (default: the OS user).")]
NoteOpt = Annotated[str | None, typer.Option("--note", help="Why (kept with the status change).")]


@contextmanager
def _connect() -> Iterator[Any]:
    """The warehouse, or a one-line error when a running flow holds it (DuckDB has one writer)."""
    import duckdb

    from cobranza.settings import load_settings
    from connectors import warehouse

    path = load_settings().duckdb_path
    try:
        con_cm = warehouse.connect(path)
        con = con_cm.__enter__()
    except duckdb.IOException as exc:
        _fail(f"the warehouse {path} is busy ({exc}); a run holds it: try again when it ends")
    try:
        yield con
    finally:
        con_cm.__exit__(None, None, None)


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(1)


def _print(obj: dict[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(obj, default=str) + "\n")
    else:
        console.print(f"alert {obj['alert_id']}: {obj['status']}")


@alerts_app.callback(invoke_without_command=True)
def list_alerts(
    ctx: typer.Context,
    status: Annotated[str | None, typer.Option("--status", help="Only alerts in this status (e.g. new).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List alerts with their current status, newest first."""
    if ctx.invoked_subcommand is not None:
        return
    from ml.alerts import lifecycle

    with _connect() as con:
        df = lifecycle.current(con, (status,) if status else None)
    cols = ["alert_id", "status", "severity", "signal", "customer_id", "first_seen_date", "raised_on", "description"]
    rows = df[cols].to_dict("records") if len(df) else []
    if as_json:
        sys.stdout.write(json.dumps({"alerts": rows, "count": len(rows)}, default=str) + "\n")
        return
    table = Table(title=f"{len(rows)} alerts")
    for c in ("id", "status", "severity", "signal", "customer", "raised", "description"):
        table.add_column(c)
    for r in rows:
        table.add_row(
            r["alert_id"][:10], r["status"], r["severity"], r["signal"], str(r["customer_id"] or ""),
            str(r["raised_on"]), escape(str(r["description"])),
        )  # fmt: skip
    console.print(table)


def _change(alert_id: str, status: str, by: str | None, note: str | None, as_json: bool) -> None:
    from ml.alerts import lifecycle

    with _connect() as con:
        try:
            out = lifecycle.change_status(
                con, alert_id, status, at=datetime.now(UTC), actor=by or getpass.getuser(), note=note
            )
        except ValueError as exc:
            _fail(str(exc))
        _publish_holds(con)
    _print(out, as_json)


def _publish_holds(con: Any) -> None:
    """Tell the dispatcher: a resolved or false-positive fraud alert stops holding its customer's contacts
    (``ml.alerts.lifecycle.publish_holds`` into the operational store), an acknowledged one keeps it."""
    from cobranza.settings import load_settings
    from flows.service import ops_connection
    from ml.alerts import lifecycle

    with ops_connection(load_settings(), "alerts-cli") as ops:
        lifecycle.publish_holds(ops, con)


@alerts_app.command("ack")
def ack(alert_id: str, by: ByOpt = None, note: NoteOpt = None, as_json: JsonOpt = False) -> None:
    """Acknowledge an alert (someone is on it; a fraud hold stays)."""
    _change(alert_id, "acknowledged", by, note, as_json)


@alerts_app.command("resolve")
def resolve(alert_id: str, by: ByOpt = None, note: NoteOpt = None, as_json: JsonOpt = False) -> None:
    """Resolve an alert (dealt with; its hold ends)."""
    _change(alert_id, "resolved", by, note, as_json)


@alerts_app.command("false-positive")
def false_positive(alert_id: str, by: ByOpt = None, note: NoteOpt = None, as_json: JsonOpt = False) -> None:
    """Mark an alert a false positive (nothing wrong; its hold ends)."""
    _change(alert_id, "false_positive", by, note, as_json)
