"""The ``cobranza`` command line (DESIGN.md §11): one entry point for people and for scripts.

Commands that report take ``--json`` and then print exactly one JSON object on stdout; the names and
JSON keys are a public interface. Heavy libraries (Prefect, dbt, MLflow, GX) are imported inside
the commands that need them, so ``cobranza --help`` stays fast. Errors a user can hit are printed
as one line saying what went wrong and what to do, with exit code 1.
"""

from __future__ import annotations

import contextlib
import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cli.alerts import alerts_app
from cobranza import runtime

runtime.apply_defaults()

app = typer.Typer(
    name="cobranza",
    help="Cobranza: B2B accounts-receivable collections - who will pay late, why, and what to do.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console(stderr=True)
app.add_typer(alerts_app, name="alerts")  # early-warning alerts (issue 21): list, ack, resolve, false-positive

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
    # the message quotes file content and format hints ("[//bankref]"): never read it as Rich markup
    console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)  # one line, whatever the terminal width
    raise typer.Exit(1)


def _emit(obj: dict[str, Any], as_json: bool, render) -> None:
    if as_json:
        sys.stdout.write(json.dumps(obj, default=str) + "\n")
    else:
        render(obj)


def _known_errors() -> tuple[type[BaseException], ...]:
    from connectors.load import SourceDataError
    from flows.dbt_runner import DbtBuildError

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
    full_refresh: Annotated[
        bool,
        typer.Option(
            "--full-refresh",
            help="Re-validate whole raw tables and rebuild the incremental dbt models from the whole history "
            "(weekly, or after a correction to past data); the daily AR balance snapshots are kept.",
        ),
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Logs and tracebacks on stderr instead of the run's log file.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run the daily collections pipeline (what `make run` calls).

    Logs (Prefect's included) go to ``<data_dir>/logs/run-<time>.log``; a failed run ends stderr
    with one line naming the file or record, the problem, what to do and that log file.
    """
    from datetime import UTC, datetime

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from cobranza.settings import load_settings
    from flows import progress
    from flows.daily import daily_collections

    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    log_file = load_settings().data_dir / "logs" / f"run-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.log"
    routing = contextlib.nullcontext() if verbose else runtime.logs_to_file(log_file)
    try:
        with routing, Progress(*columns, console=console, transient=True, disable=as_json) as bar:
            job = bar.add_task("daily run: starting Prefect", total=None)

            def on_stage(stage: str, done: int, total: int) -> None:
                bar.update(job, completed=done, total=total, description=f"daily run: {stage}")

            with progress.watching(on_stage):
                summary = daily_collections(
                    as_of=_date(as_of), profile=_profile(profile), retrain=retrain, full_refresh=full_refresh
                )
    except typer.Exit:
        raise
    except Exception as exc:  # noqa: BLE001 - every failure ends in one readable line
        _fail_run(exc, None if verbose else log_file)
    _emit(summary, as_json, _render_summary)


def _fail_run(exc: BaseException, log_file: Path | None) -> None:
    """End a failed run: the traceback to the log (or stderr), one line naming what and what to do."""
    import traceback

    trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if log_file is None:
        sys.stderr.write(trace)
    else:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(log_file, "a", encoding="utf-8") as fh:
            fh.write(f"daily run failed:\n{trace}")
    known = isinstance(exc, _known_errors())
    text = _one_line(exc) if known else f"{type(exc).__name__}: {_one_line(exc)}"
    runtime.release_exception(exc)
    del exc
    where = f"; full log: {log_file}" if log_file else ""
    _fail(f"daily run stopped before any contact: {text}{where}" if known else f"daily run failed: {text}{where}")


def _one_line(exc: BaseException) -> str:
    """The failure in one line: a gate's first critical check (and how many more), else the message."""
    result = getattr(exc, "result", None)
    critical = list(getattr(result, "critical_failures", []) or [])
    if critical:
        more = f" (and {len(critical) - 1} more critical check(s))" if len(critical) > 1 else ""
        return (
            f"quality gate {result.checkpoint!r} failed: {critical[0]}{more}; fix the records named "
            "(quarantine.gx_failures) at the source and re-run"
        )
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return "; ".join(lines) or type(exc).__name__


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
    from flows.context import business_date
    from simulator import simulate as run_simulation

    settings = load_settings()
    try:
        manifest = run_simulation(
            out,
            profile=_profile(profile) or "S",
            seed=seed,
            as_of=_date(as_of) or business_date(settings, datetime.now(UTC)),  # today on the company's clock
            start_date=settings.simulator.start_date,
        )
    except ValueError as exc:
        _fail(str(exc))
    obj = json.loads(manifest.to_json())
    _emit(obj, as_json, lambda o: console.print_json(data=o))


@app.command("parse-statement")
def parse_statement(
    file: Annotated[Path, typer.Argument(help="A camt.052/053/054, MT940/MT942 or BAI2 file.")],
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
def dispatch(as_json: JsonOpt = False) -> None:
    """Land channel feedback (webhooks) and send open outbox tasks whose lawful window is open now."""
    from cobranza.settings import load_settings
    from connectors.channels.base import ChannelConfigError
    from flows import stages

    ctx = stages.make_context(load_settings(), None)
    try:
        counts = stages.dispatch(ctx)
    except (ChannelConfigError, *_known_errors()) as exc:
        _fail(f"dispatch stopped: {exc}")
    _emit(counts, as_json, lambda o: console.print_json(data=o))


@app.command()
def emulators(
    crm_dir: Annotated[
        Path | None, typer.Option("--crm-dir", help="Simulator output folder for the HubSpot task emulator.")
    ] = None,
) -> None:
    """Start WhatsApp/Twilio/HubSpot emulators, an SMTP sink and the webhook receiver on 127.0.0.1 (demo).

    Prints the URLs and the environment that points `cobranza dispatch` at them; Ctrl-C stops.
    """
    from cobranza.settings import load_settings
    from lab.channels import run_until_stopped

    settings = load_settings()

    def announce(info: dict[str, Any]) -> None:
        table = Table(title="Channel lab on 127.0.0.1")
        table.add_column("service")
        table.add_column("url")
        for name, url in info["urls"].items():
            table.add_row(name, url or "-")
        console.print(table)
        console.print("Export these to dispatch to the lab (secrets are test values):")
        for key, value in info["env"].items():
            sys.stdout.write(f"export {key}={value}\n")
        sys.stdout.flush()

    run_until_stopped(settings.resolve(settings.channels.inbound_dir), crm_dir=crm_dir, announce=announce)


@app.command()
def receiver(
    host: Annotated[str | None, typer.Option("--host", help="Interface to listen on (default: webhooks.host).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on (default: webhooks.port).")] = None,
    public_base_url: Annotated[
        str | None,
        typer.Option("--public-base-url", help="URL providers call, e.g. https://hooks.example.com (Twilio signs it)."),
    ] = None,
) -> None:
    """Serve the webhook receiver (WhatsApp, Twilio, unsubscribe links) until SIGTERM/Ctrl-C.

    JSON log lines on stderr; /healthz (alive) and /readyz (spool writable, secrets present).
    Put it behind an HTTPS reverse proxy; docs/deploy/ has a systemd unit.
    """
    from cli.receiver import serve
    from cobranza.settings import load_settings
    from connectors.secrets import ConnectorConfigError

    try:
        code = serve(load_settings(), host=host, port=port, public_base_url=public_base_url)
    except (ConnectorConfigError, OSError) as exc:
        _fail(f"webhook receiver not started: {exc}")
    raise typer.Exit(code)


@app.command("read-reply")
def read_reply(as_json: JsonOpt = False) -> None:
    """Read debtor messages from stdin, one JSON object per line (text, optional lang, channel, sent_at).

    Prints one JSON object per message (intent, confidence, language, promised_date, amount, currency,
    invoices, handoff, reason); a bad line gets an error object naming it, and the exit code is 1.
    """
    from cli.read_reply import read_lines

    if not as_json:
        _fail("read-reply prints JSON lines only: run it as `cobranza read-reply --json < messages.jsonl`")
    bad = read_lines(sys.stdin, sys.stdout)
    if bad:
        console.print(f"[bold red]error:[/] {bad} line(s) could not be read (see their error objects)")
        raise typer.Exit(1)


@app.command()
def serve(
    demo: Annotated[
        bool, typer.Option("--demo", help="Also start the channel emulators and point the senders at them.")
    ] = False,
    port: Annotated[int | None, typer.Option("--port", help="Webhook receiver port (default: webhooks.port).")] = None,
    prefect_port: Annotated[
        int, typer.Option("--prefect-port", help="Port of the Prefect server started (unless PREFECT_API_URL is set).")
    ] = 4200,
) -> None:
    """The live service on one machine: Prefect server, scheduled deployments, webhook receiver.

    Serves every deployment of prefect.yaml on its schedule in the company's time zone (daily run,
    dispatcher, inbound, bank sync, retrain, report); logs in <data_dir>/logs/service/. Ctrl-C or
    SIGTERM stops every child cleanly.
    """
    from cli.serve import ServiceError, run_until_stopped, start_service
    from cobranza.settings import load_settings

    settings = load_settings()

    def announce(svc: Any) -> None:
        table = Table(title="Cobranza is running")
        table.add_column("what")
        table.add_column("where")
        table.add_row("Prefect API / UI", svc.prefect_api.removesuffix("/api"))
        table.add_row("webhook receiver", f"{svc.receiver_url}  (/healthz, /readyz)")
        table.add_row("schedules", f"prefect.yaml, in {settings.company.timezone}")
        table.add_row("logs", str(svc.logs))
        for name, url in ((svc.demo or {}).get("urls") or {}).items():
            if name != "receiver" and url:
                table.add_row(f"{name} emulator", url)
        console.print(table)
        console.print("Ctrl-C stops everything.")

    try:
        svc = start_service(settings, demo=demo, receiver_port=port, prefect_port=prefect_port, announce=announce)
    except ServiceError as exc:
        _fail(f"cobranza serve did not start: {exc}")
    raise typer.Exit(run_until_stopped(svc))


@app.command()
def rollback(as_json: JsonOpt = False) -> None:
    """Restore the previous champion of `cobranza_delinquency`."""
    from cobranza.settings import load_settings
    from ml import registry

    try:
        version = registry.rollback(load_settings().tracking_uri)
    except (LookupError, ValueError) as exc:
        _fail(str(exc))
    _emit({"champion_version": version}, as_json, lambda o: console.print(f"champion is now v{o['champion_version']}"))


@app.command()
def promote(
    version: Annotated[str | None, typer.Argument(help="Registry version to judge (default: the challenger).")] = None,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Judge the challenger (or VERSION) against the champion on today's test window; promote it if it wins."""
    from flows.retrain import promote_version

    try:
        result = promote_version(version=version, as_of=_date(as_of))
    except (*_known_errors(), LookupError) as exc:
        _fail(f"promotion not applied: {exc}")
    _emit(result, as_json, lambda o: console.print(f"{o['reason']} (champion: v{o['champion_version']})"))


@app.command()
def score(as_of: AsOfOpt = None, as_json: JsonOpt = False) -> None:
    """Score the open invoices in the warehouse with @champion (scores, explanations, customer risk, drift)."""
    from flows.retrain import score_today

    try:
        result = score_today(as_of=_date(as_of))
    except (*_known_errors(), LookupError) as exc:
        _fail(f"scoring failed: {exc}")
    _emit(result, as_json, lambda o: console.print_json(data=json.loads(json.dumps(o, default=str))))


@app.command("evaluate-history")
def evaluate_history(
    file: Annotated[Path, typer.Argument(help="AR history export (CSV/Parquet/JSON).")],
    mapping: Annotated[Path, typer.Option("--mapping", help="Column-mapping YAML for the file connector.")],
    late_days: Annotated[
        int | None, typer.Option("--late-days", help="Late = paid more than N days after due (default: settings).")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="The export's date YYYY-MM-DD (default: the day after the latest date the export records)."
        ),
    ] = None,
    test_days: Annotated[
        int | None,
        typer.Option("--test-days", help="Length of the production split's test, calibration and validation windows."),
    ] = None,
    folds: Annotated[
        int, typer.Option("--folds", min=1, help="Test windows of the rolling backtest, pooled (1 = the last only).")
    ] = 3,
    backtest_days: Annotated[
        int | None,
        typer.Option("--backtest-days", min=1, help="Length of each backtest window (default: --test-days)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest an external AR history, build features, train and evaluate on a time split vs both baselines."""
    from flows.retrain import evaluate_history as run_evaluation

    try:
        result = run_evaluation(
            file=file,
            mapping=mapping,
            late_days=late_days,
            as_of=_date(as_of),
            test_days=test_days,
            folds=folds,
            backtest_days=backtest_days,
        )
    except _known_errors() as exc:
        _fail(f"evaluation failed: {exc}")
    _emit(result, as_json, _render_history)


def _render_history(r: dict[str, Any]) -> None:
    out = Console()
    out.rule(f"{Path(r['file']).name}: {r['invoices']:,} invoices as of {r['as_of']}, late = > {r['late_days']} days")
    for label, res in r["labels"].items():
        if "error" in res:
            out.print(f"[yellow]{label}: not evaluated: {res['error']}[/]")
            continue
        t = Table(title=f"{label} - test window {res['windows']['test']} (n={res['n']['test']:,})")
        for col in ("scorer", "ROC AUC", "PR AUC", "Brier", "log loss", "lift top 10%"):
            t.add_column(col, justify="right")
        for name in ("model", "baseline_logreg", "baseline_prior_rate"):
            if name in res:
                m = res[name]
                t.add_row(
                    name,
                    *(f"{m[k]:.3f}" for k in ("roc_auc", "pr_auc", "brier", "log_loss", "lift_top_decile")),
                )
        out.print(t)
        verdict = "beats" if res["beats_both_baselines"] else "does NOT beat"
        out.print(f"XGBoost {verdict} both baselines on ROC AUC")
        for name, d in res.get("auc_vs_baselines", {}).items():
            real = "a real difference" if d["ci_low"] > 0 or d["ci_high"] < 0 else "within noise"
            out.print(
                f"  vs {name}: AUC {d['delta']:+.3f} "
                f"(95% paired bootstrap {d['ci_low']:+.3f}..{d['ci_high']:+.3f}: {real})"
            )
        if "backtest" in res:
            _render_backtest(out, res)


def _render_backtest(out: Console, res: dict[str, Any]) -> None:
    bt = res["backtest"]
    t = Table(title=f"rolling backtest: {bt['pooled']['n_folds']} test windows, pooled n={bt['pooled']['n_test']:,}")
    for col in ("test window", "n", "model AUC", "logreg AUC", "prior-rate AUC"):
        t.add_column(col, justify="right")
    for f in bt["folds"]:
        if "error" in f:
            t.add_row(f"fold {f['fold']}", "-", f"[yellow]{f['error']}[/]", "", "")
            continue
        a = f["roc_auc"]
        t.add_row(f["test"], f"{f['n_test']:,}", f"{a['model']:.3f}", f"{a['logreg']:.3f}", f"{a['prior_rate']:.3f}")
    p = bt["pooled"]
    t.add_row("pooled", f"{p['n_test']:,}", *(f"{p[n]['roc_auc']:.3f}" for n in ("model", "logreg", "prior_rate")))
    out.print(t)
    verdict = "beats" if res["beats_both_baselines_backtest"] else "does NOT beat"
    out.print(f"XGBoost {verdict} both baselines on the pooled backtest")
    for name, d in p["auc_vs_baselines"].items():
        real = "a real difference" if d["ci_low"] > 0 or d["ci_high"] < 0 else "within noise"
        out.print(
            f"  vs {name}: AUC {d['delta']:+.3f} (95% paired bootstrap {d['ci_low']:+.3f}..{d['ci_high']:+.3f}: "
            f"{real}); model ahead in {p['folds_won'][name]} of {p['n_folds']} windows"
        )


@app.command("simulate-policy")
def simulate_policy(
    days: Annotated[int, typer.Option("--days", help="Simulated days.")] = 90,
    profile: ProfileOpt = "S",
    seed: Annotated[int, typer.Option("--seed", help="World seed (the same for both arms).")] = 42,
    as_json: JsonOpt = False,
    seeds: Annotated[
        str | None,
        typer.Option("--seeds", help="Comma list of seeds, e.g. 42,7,1,3,5: one run per seed and the aggregate."),
    ] = None,
    oracle: Annotated[
        bool, typer.Option("--oracle", help="Also run the oracle arm (ground truth, evaluation only): the ceiling.")
    ] = False,
    budget_share: Annotated[
        float | None,
        typer.Option("--budget-share", help="Cap the policy's contacts at this share of the ladder's (frontier)."),
    ] = None,
) -> None:
    """Closed loop: the decision policy vs the static dunning ladder (and the oracle) on the same simulated world.

    With --seeds or --oracle the JSON is {"runs": [one object per seed], "aggregate": {...}}; a single
    --seed without them prints the one object as before.
    """
    from cobranza.settings import load_settings
    from evaluation import closed_loop
    from ml.nba.inputs import config_from, relaxations_from

    nba = load_settings().nba
    try:
        config = config_from(nba.model_dump(), {"USD": 1.0}, relaxations_from(nba.relaxations))
        kw = {"days": days, "profile": _profile(profile) or "S", "config": config, "budget_share": budget_share}
        if seeds is None and not oracle:
            result = closed_loop.simulate_policy(seed=seed, **kw)
        else:
            try:
                seed_list = [int(x) for x in (seeds or str(seed)).split(",") if x.strip()]
            except ValueError:
                raise ValueError(f"--seeds must be a comma list of integers, got {seeds!r}") from None
            result = closed_loop.simulate_policies(seed_list, oracle=oracle, **kw)
    except ValueError as exc:
        _fail(f"simulate-policy failed: {exc}")
    _emit(result, as_json, _render_policies if "runs" in result else _render_policy)


@app.command()
def decide(as_of: AsOfOpt = None, as_json: JsonOpt = False) -> None:
    """Decide today's next-best actions on the current warehouse (after `cobranza run` has built it)."""
    from cobranza.settings import load_settings
    from flows import stages

    try:
        result = stages.decide(stages.make_context(load_settings(), _date(as_of)))
    except _known_errors() as exc:
        _fail(f"decide failed: {exc}; run `cobranza run` first to build the warehouse")
    _emit(result, as_json, lambda o: console.print_json(data=json.loads(json.dumps(o, default=str))))


def _render_policies(res: dict[str, Any]) -> None:
    out = Console()
    arms = [a for a in ("policy", "ladder", "oracle") if a in res["runs"][0]]
    t = Table(title=f"Closed loop - profile {res['profile']}, {res['days']} days (DSO: collectable / gross)")
    for col in ("seed", "arm", "DSO end", "DSO mean", "collected USD", "contacts", "escal.", "opt-outs", "viol."):
        t.add_column(col, justify="right")
    for r in res["runs"]:
        for a in arms:
            x = r[a]
            t.add_row(
                str(r["seed"]),
                a,
                f"{x['dso_end_collectable']:.1f} / {x['dso_end']:.1f}",
                f"{x['dso_mean_collectable']:.1f} / {x['dso_mean']:.1f}",
                f"{x['collected_usd']:,.0f}",
                f"{x['contacts']:,}",
                f"{x['escalations']:,}",
                f"{x['opt_outs']:,}",
                f"{x['violations']:,}",
            )
    out.print(t)
    for r in res["runs"]:
        share = r.get("share_of_oracle_gain_collectable")
        tail = "" if share is None else f"; share of the oracle's gain {share:.0%}, bar met: {r['decision_bar_met']}"
        out.print(f"seed {r['seed']}: policy DSO {r['dso_reduction_end_collectable']:+.1%} vs the ladder{tail}")


def _render_policy(r: dict[str, Any]) -> None:
    out = Console()
    t = Table(title=f"Policy vs static ladder - profile {r['profile']}, seed {r['seed']}, {r['days']} days")
    t.add_column("metric")
    t.add_column("policy", justify="right")
    t.add_column("ladder", justify="right")
    for key, label, fmt in (
        ("dso_end", "DSO at the end", "{:.1f}"),
        ("dso_mean", "DSO, mean over the period", "{:.1f}"),
        ("collected_usd", "collected (USD)", "{:,.0f}"),
        ("contacts", "contacts made", "{:,}"),
        ("violations", "rule violations", "{:,}"),
        ("opt_outs", "opt-outs", "{:,}"),
        ("escalations", "escalations", "{:,}"),
    ):
        t.add_row(label, fmt.format(r["policy"][key]), fmt.format(r["ladder"][key]))
    out.print(t)
    out.print(
        f"DSO {r['dso_reduction_end']:+.1%} lower at the end ({r['dso_reduction_mean']:+.1%} on average), "
        f"contacts x{r['contact_ratio']:.2f}; target met: {r['target_met']}"
    )


@app.command()
def bench(
    profile: ProfileOpt = "S",
    as_of: AsOfOpt = None,
    out: Annotated[Path | None, typer.Option(help="Work folder (default: a temporary one).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the pipeline stages at a profile and print wall time and peak memory per stage."""
    from cli.benchmark import render, run_bench

    result = run_bench(_profile(profile) or "S", as_of=_date(as_of), work_dir=out)
    _emit(result, as_json, render)


@app.command()
def report(
    as_of: AsOfOpt = None,
    segment: Annotated[str | None, typer.Option(help="Only this customer segment, e.g. enterprise.")] = None,
    country: Annotated[str | None, typer.Option(help="Only customers of this ISO country, e.g. MX.")] = None,
    out: Annotated[Path | None, typer.Option(help="Output .html file or folder (default: <data_dir>/reports).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Write the self-contained KPI report (DSO, aging, CEI, channels, risk, model health) as HTML."""
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from cobranza.report import ReportDataError, build_report
    from cobranza.report.build import expected_steps
    from cobranza.settings import load_settings

    settings = load_settings()
    target = out or settings.data_dir / "reports"
    if out is None:
        target.mkdir(parents=True, exist_ok=True)
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=True, disable=as_json) as bar:
            job = bar.add_task("KPI report", total=expected_steps())

            def step(name: str) -> None:
                bar.update(job, advance=1, description=f"KPI report: {name}")

            copy = settings.published_path.exists()  # the read copy: never blocks (nor is blocked by) a flow
            result = build_report(
                settings.published_path if copy else settings.duckdb_path,
                target,
                as_of=_date(as_of),
                segment=segment,
                country=country,
                tracking_uri=settings.tracking_uri,
                step=step,
                read_only=copy,
            )
    except (ReportDataError, FileNotFoundError) as exc:
        _fail(str(exc))
    _emit(result.as_dict(), as_json, _render_report)


def _render_report(r: dict[str, Any]) -> None:
    out = Console()
    out.print(f"[bold]KPI report[/] for {r['as_of']} ({r['scope']}): {r['figures']} charts")
    for line in r["insights"]:
        out.print(f"  - {line}")
    for section, why in r["unavailable"].items():
        out.print(f"  [yellow]{section}: data not available yet[/] ({why})")
    out.print(f"Open it: file://{r['path']}")


def _render_summary(s: dict[str, Any]) -> None:
    from rich.text import Text

    out = Console()
    out.rule(f"Cobranza daily run - {s['as_of']}")
    day = s.get("company_day") or {}
    if day.get("holiday"):
        out.print(f"[yellow]Company holiday ({day['country']}): {day['holiday']} - on_holiday={day['plan']}[/]")
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
    if s.get("champion_why"):
        out.print(f"Why it is champion: {s['champion_why']}")
    tr = s.get("training") or {}
    if tr.get("reason"):
        out.print(f"Training: {tr['reason']}")
    drift = s.get("drift") or {}
    if drift.get("checked"):
        flagged = ", ".join(drift["drifted"]) or "none"
        out.print(f"Drift (PSI vs training): score {drift.get('score_psi')}, past threshold: {flagged}")
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
    for q in s.get("quarantined_files") or []:
        # file names and reasons come from outside: printed as text, never as markup
        out.print(Text(f"set aside (quarantine.raw_files, not read until it changes): {q['file']}: {q['reason']}"))
    out.print("[bold]Where to look next[/]")
    for k, v in s["where_next"].items():
        out.print(f"  {k:17} {v}")


def _num(value: Any, digits: int) -> str:
    if value is None:
        return "-"
    return f"{float(value):,.{digits}f}"


def _render_statement(parsed) -> None:
    # every value comes from the file (payer names, remittance texts): rendered as plain Text, not markup
    from rich.text import Text

    out = Console()
    out.rule(Text(f"{parsed.path.name}: {parsed.format} {parsed.version or ''}".strip()))
    for st in parsed.statements:
        opening = f"{st.opening[0]} on {st.opening[1]}" if st.opening else "n/a"
        closing = f"{st.closing[0]} on {st.closing[1]}" if st.closing else "n/a"
        out.print(
            Text.assemble(
                (str(st.account), "bold"),
                f" {st.currency or ''} statement {st.statement_id or '?'}: "
                f"opening {opening}, closing {closing}, {len(st.entries)} entries",
            )
        )
        t = Table(show_header=True)
        for col in ("booked", "value", "amount", "dir", "status", "payer", "remittance", "reference"):
            t.add_column(col)
        for e in st.entries:
            t.add_row(
                *(
                    Text(v)
                    for v in (
                        str(e.booking_date or ""),
                        str(e.value_date or ""),
                        f"{e.amount} {e.currency}",
                        e.credit_debit + (" rev" if e.is_reversal else ""),
                        str(e.status or ""),
                        (e.counterparty_name or "")[:30],
                        (e.remittance_text or "")[:40],
                        e.creditor_reference or "",
                    )
                )
            )
        out.print(t)
    check = parsed.balance_check()
    style = {"reconciled": "green", "mismatch": "yellow", "unchecked": "yellow"}[check.status]
    out.print(Text(check.summary, style=style))


def main() -> None:  # pragma: no cover - console entry
    """Entry point for ``python -m cli.app``."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
