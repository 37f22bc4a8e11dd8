"""``cobranza serve``: the live service on one machine (DESIGN.md §11, issue 18).

One supervisor process starts its children, each in its own process group with its log file in
``<data_dir>/logs/service/``, and stops them all on Ctrl-C or SIGTERM:

1. a Prefect server on 127.0.0.1 (``PREFECT_HOME`` = ``<data_dir>/prefect``), waited for until healthy;
   when ``PREFECT_API_URL`` is already set, that server is used and none is started;
2. in demo mode (``--demo``), the channel lab (``python -m lab.channels``): WhatsApp, Twilio and
   SMTP emulators that post their webhooks to the receiver below; the senders are pointed at them;
3. the webhook receiver (``cobranza receiver``), waited for until healthy;
4. the flow runner (``python -m cli.serve``): ``prefect.serve`` of every deployment of ``prefect.yaml``
   with its schedules in the company's time zone (``company.timezone``), the dispatcher and inbound
   intervals from ``service.dispatch_interval_minutes`` / ``inbound_interval_minutes``, and the
   concurrency limits of ``prefect.yaml``. Flow runs are children of the runner: stopping it stops
   them (a run cut short is retried by the next pass; the outbox and spool make that safe);
5. the service loop (``python -m flows.loop``): one long-running process that runs the inbound and
   dispatcher passes on their intervals as flow runs of their own, without a new process per pass
   (their deployments' schedules are inactive in ``prefect.yaml``). If it dies it is restarted (after
   ``LOOP_RESTART_S``); any other child dying stops everything.

``prefect.yaml`` is the one list of deployments: ``prefect deploy --all`` with a worker, or
``cobranza serve``, run the same schedules.
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from cobranza.settings import Settings

REPO = Path(__file__).resolve().parents[1]
PREFECT_YAML = REPO / "prefect.yaml"
#: Seconds before a dead service loop is started again.
LOOP_RESTART_S = 5.0
#: Deployments whose interval comes from the settings (minutes), not from prefect.yaml.
INTERVAL_SETTINGS = {"dispatcher": "dispatch_interval_minutes", "inbound": "inbound_interval_minutes"}


def deployment_specs(path: Path = PREFECT_YAML) -> list[dict[str, Any]]:
    """The deployments of ``prefect.yaml`` (name, entrypoint, schedules, concurrency, tags, description)."""
    return list(yaml.safe_load(path.read_text(encoding="utf-8"))["deployments"])


def _schedules(spec: dict[str, Any], settings: Settings) -> list[Any]:
    from prefect.schedules import Cron, Interval

    zone = settings.company.timezone
    out = []
    for s in spec.get("schedules") or []:
        if "cron" in s:
            out.append(Cron(s["cron"], timezone=zone, active=s.get("active", True)))
        else:
            seconds = s["interval"]
            if spec["name"] in INTERVAL_SETTINGS:
                seconds = 60 * getattr(settings.service, INTERVAL_SETTINGS[spec["name"]])
            # anchored on a local midnight: passes fall on round times (:00, :05, ...), run after run
            anchor = datetime(2026, 1, 1, tzinfo=ZoneInfo(zone))
            out.append(
                Interval(timedelta(seconds=seconds), anchor_date=anchor, timezone=zone, active=s.get("active", True))
            )
    return out


def load_flow(entrypoint: str) -> Any:
    """The flow object of a ``prefect.yaml`` entrypoint (``flows/daily.py:daily_collections``)."""
    path, _, name = entrypoint.partition(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, name)


def deployments(settings: Settings, path: Path = PREFECT_YAML) -> list[Any]:
    """``RunnerDeployment``s of every ``prefect.yaml`` deployment, scheduled in the company's zone."""
    from prefect.client.schemas.objects import ConcurrencyLimitConfig

    out = []
    for spec in deployment_specs(path):
        limit = spec.get("concurrency_limit")
        out.append(
            load_flow(spec["entrypoint"]).to_deployment(
                name=spec["name"],
                description=spec.get("description"),
                tags=spec.get("tags"),
                parameters=spec.get("parameters") or {},
                schedules=_schedules(spec, settings),
                concurrency_limit=ConcurrencyLimitConfig(**limit) if isinstance(limit, dict) else limit,
            )
        )
    return out


def serve_flows(settings: Settings) -> None:
    """Serve every deployment until SIGTERM/SIGINT (the runner process of ``cobranza serve``)."""
    import prefect

    # Schedules stay active when the runner stops: runs due while it is down are picked up (late)
    # when it comes back, instead of being silently skipped.
    prefect.serve(*deployments(settings), pause_on_shutdown=False, print_starting_message=False)


# --- the supervisor -------------------------------------------------------------------------------


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _default_signals() -> None:
    """In a child before exec: Ctrl-C and SIGTERM back to their defaults.

    A supervisor started in the background (``nohup``, ``&`` in a script) inherits SIGINT ignored, and
    so would its children: the flow runner would then never see the SIGINT that stops it.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@dataclass
class Child:
    """A child process in its own process group, with its log file."""

    name: str
    proc: subprocess.Popen
    log: Path

    def alive(self) -> bool:
        """Whether it still runs."""
        return self.proc.poll() is None

    def stop(self, timeout: float) -> int | None:
        """SIGINT its process group (Ctrl-C: every child, the Prefect server and runner included,
        shuts down cleanly on it), wait, then SIGKILL what is left; return its exit code."""
        for sig, wait in ((signal.SIGINT, timeout), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # the group may outlive its leader (a flow run's subprocess): make sure it is gone
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return self.proc.returncode


@dataclass
class Service:
    """What ``cobranza serve`` started: its children, URLs and log folder."""

    logs: Path
    prefect_api: str
    receiver_url: str
    children: list[Child] = field(default_factory=list)
    demo: dict[str, Any] | None = None
    #: Children restarted when they die (name -> their command and environment), not stopping the service.
    restartable: dict[str, tuple[list[str], dict[str, str]]] = field(default_factory=dict)
    restarts: int = 0

    def start(self, name: str, args: list[str], env: dict[str, str], **popen: Any) -> Child:
        """Start a child in its own session, stdout and stderr to ``<logs>/<name>.log``."""
        log = self.logs / f"{name}.log"
        out = log.open("ab")
        popen.setdefault("stdout", out)
        proc = subprocess.Popen(
            args, env=env, stderr=out, start_new_session=True, preexec_fn=_default_signals, cwd=REPO, **popen
        )
        out.close()
        child = Child(name, proc, log)
        self.children.append(child)
        return child

    def restart(self, child: Child) -> Child:
        """Start a restartable child that died again (same command and environment)."""
        self.children.remove(child)
        args, env = self.restartable[child.name]
        self.restarts += 1
        return self.start(child.name, args, env)

    def stop(self) -> dict[str, int | None]:
        """Stop every child, the last started first; return their exit codes."""
        codes = {}
        timeouts = {"flows": 60.0, "receiver": 40.0, "loop": 60.0}
        for child in reversed(self.children):
            codes[child.name] = child.stop(timeouts.get(child.name, 20.0))
        return codes


class ServiceError(RuntimeError):
    """A child did not start (the message names it and its log file)."""


def _wait_http(url: str, child: Child | None, timeout: float, what: str) -> None:
    import requests

    deadline = time.monotonic() + timeout
    while True:
        if child is not None and not child.alive():
            raise ServiceError(f"{what} exited with code {child.proc.returncode} while starting; see {child.log}")
        try:
            if requests.get(url, timeout=2).ok:
                return
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            where = f"; see {child.log}" if child else ""
            raise ServiceError(f"{what} not healthy at {url} after {timeout:.0f} s{where}")
        time.sleep(0.3)


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    env.setdefault("DO_NOT_TRACK", "1")
    return env


def start_service(
    settings: Settings,
    *,
    demo: bool = False,
    receiver_port: int | None = None,
    prefect_port: int = 4200,
    announce: Callable[[Service], None] | None = None,
) -> Service:
    """Start the Prefect server (unless one is configured), the demo lab, the receiver and the runner.

    Raises:
        ServiceError: A child did not start; the children already started are stopped.
    """
    bin_dir = Path(sys.executable).parent
    logs = settings.data_dir / "logs" / "service"
    logs.mkdir(parents=True, exist_ok=True)
    env = _base_env()
    env["COBRANZA_DATA_DIR"] = str(settings.data_dir)
    env.setdefault("PREFECT_HOME", str(settings.data_dir / "prefect"))
    Path(env["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
    api = os.environ.get("PREFECT_API_URL")
    receiver_port = receiver_port if receiver_port is not None else settings.webhooks.port
    receiver_url = f"http://127.0.0.1:{receiver_port}"
    service = Service(logs=logs, prefect_api=api or f"http://127.0.0.1:{prefect_port}/api", receiver_url=receiver_url)
    try:
        if api is None:
            server_env = {k: v for k, v in env.items() if k != "PREFECT_API_URL"}
            server = service.start(
                "prefect-server",
                [str(bin_dir / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(prefect_port)],
                server_env,
            )
            _wait_http(f"{service.prefect_api}/health", server, 180, "the Prefect server")
        else:
            _wait_http(f"{api.rstrip('/')}/health", None, 30, f"the Prefect server of PREFECT_API_URL={api}")
        env["PREFECT_API_URL"] = service.prefect_api
        if demo:
            lab = service.start(
                "emulators",
                [
                    sys.executable,
                    "-m",
                    "lab.channels",
                    str(settings.resolve(settings.channels.inbound_dir)),
                    "--receiver-url",
                    receiver_url,
                    "--read-rate",
                    "0.5",
                ],
                env,
                stdout=subprocess.PIPE,
            )
            line = lab.proc.stdout.readline() if lab.proc.stdout else b""
            if not line:
                raise ServiceError(f"the channel emulators exited while starting; see {lab.log}")
            service.demo = json.loads(line)
            env.update(service.demo["env"])
            env.update(service.demo["receiver_env"])
        receiver = service.start(
            "receiver",
            [str(bin_dir / "cobranza"), "receiver", "--host", settings.webhooks.host, "--port", str(receiver_port)],
            env,
        )
        _wait_http(f"{receiver_url}/healthz", receiver, 60, "the webhook receiver")
        service.start("flows", [sys.executable, "-m", "cli.serve"], env)
        loop = [sys.executable, "-m", "flows.loop"]
        service.restartable["loop"] = (loop, env)
        service.start("loop", loop, env)
    except BaseException:
        service.stop()
        raise
    if announce is not None:
        announce(service)
    return service


def run_until_stopped(service: Service, *, poll_s: float = 1.0) -> int:
    """Supervise until SIGINT/SIGTERM or a child dies; stop everything; 0 after a requested stop."""
    stop = {"sig": None}

    def request_stop(sig: int, _frame: object) -> None:
        stop["sig"] = sig

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    died: Child | None = None
    try:
        while stop["sig"] is None and died is None:
            died = next((c for c in service.children if not c.alive()), None)
            if died is not None and died.name in service.restartable:
                sys.stderr.write(
                    f"{died.name} exited with code {died.proc.returncode}; restarting it in {LOOP_RESTART_S:.0f} s"
                    f" (see {died.log})\n"
                )
                time.sleep(LOOP_RESTART_S)
                service.restart(died)
                died = None
            time.sleep(poll_s)
    finally:
        codes = service.stop()
        for s, handler in previous.items():
            signal.signal(s, handler)
    sys.stderr.write(f"stopped: {', '.join(f'{name} (exit {code})' for name, code in codes.items())}\n")
    if died is not None:
        sys.stderr.write(f"{died.name} exited with code {died.proc.returncode}; everything stopped; see {died.log}\n")
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover - the flow runner child of `cobranza serve`
    from cobranza import runtime
    from cobranza.settings import load_settings

    runtime.apply_defaults()
    serve_flows(load_settings())
