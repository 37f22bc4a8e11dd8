"""The ``cobranza`` command line (DESIGN.md §11): one entry point for people and for scripts.

Commands that report take ``--json`` and then print exactly one JSON object on stdout; the names and
JSON keys are a public interface. Heavy libraries (Prefect, dbt, MLflow, GX) are imported inside
the commands that need them, so ``cobranza --help`` stays fast. Errors a user can hit are printed
as one line saying what went wrong and what to do, with exit code 1.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cobranza import runtime

runtime.apply_defaults()

app = typer.Typer(
    name="cobranza",
    help="Cobranza: B2B accounts-receivable collections - who will pay late, why, and what to do.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")]
AsOfOpt = Annotated[str | None, typer.Option("--as-of", help="Business date YYYY-MM-DD (default: today).")]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="Simulator profile: S, M or L.")]


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        _fail(f"--as-of {value!r} is not a date: use YYYY-MM-DD, e.g. 2026-11-23")
    return None


def _profile(value: str | None) -> str | None:
    if value is not None and value.upper() not in ("S", "M", "L"):
        _fail(f"--profile {value!r} is unknown: use S (1k customers), M (20k) or L (200k)")
    return value.upper() if value else None


def _fail(message: str) -> None:
    console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(1)


def _emit(obj: dict[str, Any], as_json: bool, render) -> None:
    if as_json:
        sys.stdout.write(json.dumps(obj, default=str) + "\n")
    else:
        render(obj)


def _known_errors() -> tuple[type[BaseException], ...]:
    from connectors.load import SourceDataError
    from flows.dbt import DbtBuildError

    errors: list[type[BaseException]] = [SourceDataError, DbtBuildError, ValueError, FileNotFoundError]
    try:
        from expectations import QualityGateError

        errors.append(QualityGateError)
    except ImportError:  # pragma: no cover - the package is part of the project
        pass
    return tuple(errors)


@app.command()
def run(
    as_of: AsOfOpt = None,
    profile: ProfileOpt = None,
    retrain: Annotated[bool, typer.Option(help="Train a new model even if the champion is recent.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run the daily collections pipeline (what `make run` calls)."""
    from flows.daily import daily_collections

    try:
        summary = daily_collections(as_of=_date(as_of), profile=_profile(profile), retrain=retrain)
    except _known_errors() as exc:
        _fail(f"daily run stopped before any contact: {exc}")
    _emit(summary, as_json, _render_summary)


@app.command()
def simulate(
    out: Annotated[Path, typer.Option("--out", help="Folder to write the source extracts to.")],
    profile: ProfileOpt = "S",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 42,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a simulated AR world in its source formats."""
    from datetime import UTC, datetime

    from cobranza.settings import load_settings
    from simulator import simulate as run_simulation

    settings = load_settings()
    try:
        manifest = run_simulation(
            out,
            profile=_profile(profile) or "S",
            seed=seed,
            as_of=_date(as_of) or datetime.now(UTC).date(),
            start_date=settings.simulator.start_date,
        )
    except ValueError as exc:
        _fail(str(exc))
    obj = json.loads(manifest.to_json())
    _emit(obj, as_json, lambda o: console.print_json(data=o))


@app.command("parse-statement")
def parse_statement(
    file: Annotated[Path, typer.Argument(help="A camt.053 / camt.054 / MT940 / MT942 file.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per statement line.")] = False,
) -> None:
    """Parse a bank statement file: statements, balances and entries."""
    from connectors.load import SourceDataError
    from connectors.sources.bank import cli_lines, parse_statement_file

    try:
        if as_json:
            for line in cli_lines(file):
                sys.stdout.write(line + "\n")
            return
        parsed = parse_statement_file(file)
    except (SourceDataError, OSError) as exc:
        _fail(str(exc))
    _render_statement(parsed)


@app.command()
def train(as_of: AsOfOpt = None, as_json: JsonOpt = False) -> None:
    """Rebuild the feature marts, train and register the delinquency model (weekly retrain)."""
    from flows.retrain import weekly_retrain

    try:
        result = weekly_retrain(as_of=_date(as_of))
    except _known_errors() as exc:
        _fail(f"training failed: {exc}")
    _emit(result, as_json, lambda o: console.print_json(data=json.loads(json.dumps(o, default=str))))


@app.command()
def rollback(as_json: JsonOpt = False) -> None:
    """Restore the previous champion of `cobranza_delinquency`."""
    from cobranza.settings import load_settings
    from ml import registry

    try:
        version = registry.rollback(load_settings().tracking_uri)
    except LookupError as exc:
        _fail(str(exc))
    _emit({"champion_version": version}, as_json, lambda o: console.print(f"champion is now v{o['champion_version']}"))


@app.command()
def bench(
    profile: ProfileOpt = "S",
    as_of: AsOfOpt = None,
    out: Annotated[Path | None, typer.Option(help="Work folder (default: a temporary one).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the pipeline stages at a profile and print wall time and peak memory per stage."""
    from bench.harness import render, run_bench

    result = run_bench(_profile(profile) or "S", as_of=_date(as_of), work_dir=out)
    _emit(result, as_json, render)


def _render_summary(s: dict[str, Any]) -> None:
    out = Console()
    out.rule(f"Cobranza daily run - {s['as_of']}")
    t = Table(title="Rows per layer", show_header=True)
    t.add_column("layer")
    t.add_column("rows", justify="right")
    for layer, n in s["rows_per_layer"].items():
        t.add_row(layer, f"{n:,}")
    out.print(t)
    m = s.get("model") or {}
    if m:
        out.print(
            f"Model [bold]cobranza_delinquency@champion[/] v{m.get('version')}: ROC AUC "
            f"{m.get('roc_auc', float('nan')):.3f} on the time-based test window {m.get('test_window', '?')}"
        )
    tr = s.get("training") or {}
    if tr.get("reason"):
        out.print(f"Training: {tr['reason']}")
    k = Table(title="Collections KPIs by currency (all segments and countries)")
    for col in ("currency", "open AR", "% overdue", "DSO", "countback", "best DSO", "CEI 30d"):
        k.add_column(col, justify="right")
    for row in s.get("kpis") or []:
        k.add_row(
            str(row["currency"]),
            _num(row.get("ar_total"), 0),
            _num(100 * float(row["pct_overdue"]) if row.get("pct_overdue") is not None else None, 1),
            _num(row.get("dso_standard"), 1),
            _num(row.get("dso_countback"), 1),
            _num(row.get("dso_best_possible"), 1),
            _num(row.get("cei_30d"), 1),
        )
    out.print(k)
    a = Table(title="Actions by channel")
    a.add_column("action / channel")
    a.add_column("accounts", justify="right")
    for ch, n in (s.get("actions_by_channel") or {}).items():
        a.add_row(str(ch), f"{n:,}")
    out.print(a)
    d = s.get("decisions") or {}
    out.print(f"New outbox tasks: {d.get('new_outbox_tasks', 0)}; dispatch: {s.get('dispatch')}")
    out.print("[bold]Where to look next[/]")
    for k, v in s["where_next"].items():
        out.print(f"  {k:17} {v}")


def _num(value: Any, digits: int) -> str:
    if value is None:
        return "-"
    return f"{float(value):,.{digits}f}"


def _render_statement(parsed) -> None:
    out = Console()
    out.rule(f"{parsed.path.name}: {parsed.format} {parsed.version or ''}".strip())
    problems = parsed.reconcile()
    for st in parsed.statements:
        opening = f"{st.opening[0]} on {st.opening[1]}" if st.opening else "n/a"
        closing = f"{st.closing[0]} on {st.closing[1]}" if st.closing else "n/a"
        out.print(
            f"[bold]{st.account}[/] {st.currency or ''} statement {st.statement_id or '?'}: "
            f"opening {opening}, closing {closing}, {len(st.entries)} entries"
        )
        t = Table(show_header=True)
        for col in ("booked", "value", "amount", "dir", "status", "payer", "remittance", "reference"):
            t.add_column(col)
        for e in st.entries:
            t.add_row(
                str(e.booking_date or ""),
                str(e.value_date or ""),
                f"{e.amount} {e.currency}",
                e.credit_debit + (" rev" if e.is_reversal else ""),
                str(e.status or ""),
                (e.counterparty_name or "")[:30],
                (e.remittance_text or "")[:40],
                e.creditor_reference or "",
            )
        out.print(t)
    out.print("[green]balances reconcile[/]" if not problems else "[yellow]" + "; ".join(problems) + "[/]")


def main() -> None:  # pragma: no cover - console entry
    """Entry point for ``python -m cobranza.cli``."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
