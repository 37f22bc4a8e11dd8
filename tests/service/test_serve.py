"""``cobranza serve --demo`` in a subprocess against a temporary data folder (issue 18 item 4).

The real thing: a Prefect server started as a child (``PREFECT_HOME`` under the data folder), the
deployments of ``prefect.yaml`` served with their schedules in the company's zone, read back through
the Prefect REST API; the webhook receiver healthy and ready with the emulators' secrets; then
SIGINT, and every process the service started (server, runner, flow runs, receiver, emulators) is
gone. The zone and the dispatcher interval are set away from their defaults so the test shows the
schedules follow the settings, not a copy of them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import requests
import yaml

from cli.serve import free_port

REPO = Path(__file__).resolve().parents[2]
COBRANZA = str(Path(sys.executable).with_name("cobranza"))
ZONE = "America/Bogota"


def _expected() -> dict[str, dict]:
    """name -> the schedule prefect.yaml declares (cron, or interval in seconds)."""
    out = {}
    for d in yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]:
        ((schedule),) = d["schedules"]
        out[d["name"]] = {k: v for k, v in schedule.items() if k in ("cron", "interval", "active")}
    out["dispatcher"]["interval"] = 180  # COBRANZA_SERVICE__DISPATCH_INTERVAL_MINUTES=3 below
    return out


def test_served_deployments_are_prefect_yaml_in_the_company_zone():
    """What the runner serves, built without a server: prefect.yaml's deployments, zone and intervals from settings."""
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from cli.serve import deployments
    from cobranza.settings import Settings

    built = deployments(Settings(company={"timezone": "Europe/Madrid"}, service={"dispatch_interval_minutes": 7}))
    declared = {d["name"]: d for d in yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]}

    assert [d.name for d in built] == list(declared)
    for d in built:
        spec = declared[d.name]
        assert d.entrypoint == spec["entrypoint"]
        assert d.concurrency_limit == spec["concurrency_limit"]["limit"]
        assert d.concurrency_options.collision_strategy.value == spec["concurrency_limit"]["collision_strategy"]
        (schedule,) = [s.schedule for s in d.schedules]
        assert schedule.timezone == "Europe/Madrid", d.name
        if "cron" in spec["schedules"][0]:
            assert schedule.cron == spec["schedules"][0]["cron"]
    by_name = {d.name: d.schedules[0].schedule for d in built}
    assert by_name["dispatcher"].interval == timedelta(minutes=7)  # service.dispatch_interval_minutes
    assert by_name["inbound"].interval == timedelta(seconds=declared["inbound"]["schedules"][0]["interval"])
    # passes fall on round local times: anchored on a local midnight
    anchor = by_name["dispatcher"].anchor_date
    assert (anchor.hour, anchor.minute) == (0, 0) and anchor.utcoffset() == datetime(
        2026, 1, 1, tzinfo=ZoneInfo("Europe/Madrid")
    ).utcoffset()


@pytest.mark.slow
def test_serve_demo_runs_everything_and_sigint_stops_every_process(tmp_path):
    data = tmp_path / "data"
    prefect_port, receiver_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COBRANZA_", "PREFECT_API_URL", "PREFECT_HOME"))}
    env.update(
        COBRANZA_DATA_DIR=str(data),
        COBRANZA_COMPANY__TIMEZONE=ZONE,
        COBRANZA_SERVICE__DISPATCH_INTERVAL_MINUTES="3",
        PREFECT_UI_ENABLED="false",
    )
    out = (tmp_path / "serve.out").open("w")
    proc = subprocess.Popen(
        [COBRANZA, "serve", "--demo", "--port", str(receiver_port), "--prefect-port", str(prefect_port)],
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    api = f"http://127.0.0.1:{prefect_port}/api"
    receiver = f"http://127.0.0.1:{receiver_port}"
    expected = _expected()
    seen: set[int] = set()
    try:
        deadline = time.monotonic() + 240
        deployments: dict[str, dict] = {}
        while set(deployments) != set(expected):
            assert proc.poll() is None, (
                f"cobranza serve exited {proc.returncode}:\n{(tmp_path / 'serve.out').read_text()}"
            )
            assert time.monotonic() < deadline, f"deployments after 240 s: {sorted(deployments)}"
            seen |= {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
            try:
                found = requests.post(f"{api}/deployments/filter", json={}, timeout=5).json()
                deployments = {d["name"]: d for d in found}
            except requests.RequestException:
                pass
            time.sleep(1)

        # the server is the child started under the data folder
        assert requests.get(f"{api}/health", timeout=5).ok
        assert (data / "prefect" / "prefect.db").is_file()
        for name, schedule in expected.items():
            ((s, active),) = [(x["schedule"], x["active"]) for x in deployments[name]["schedules"]]
            ((kind, value),) = [(k, v) for k, v in schedule.items() if k != "active"]
            assert (s[kind], s["timezone"], active) == (value, ZONE, schedule.get("active", True)), name
        # the dispatcher and inbound passes run in the service loop, not as a process per scheduled run
        assert not expected["dispatcher"]["active"] and not expected["inbound"]["active"]
        assert deployments["dispatcher"]["concurrency_options"]["collision_strategy"] == "CANCEL_NEW"
        assert deployments["inbound"]["global_concurrency_limit"]["limit"] == 1

        # the receiver is up and ready with the demo emulators' secrets (WhatsApp, Twilio, unsubscribe)
        ready = requests.get(f"{receiver}/readyz", timeout=5)
        assert ready.status_code == 200 and set(ready.json()["checks"]) >= {"whatsapp", "twilio", "unsubscribe"}
        logs = data / "logs" / "service"
        assert {p.name for p in logs.iterdir()} >= {
            "prefect-server.log", "receiver.log", "emulators.log", "flows.log", "loop.log"
        }  # fmt: skip
        seen |= {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
        names = " ".join(" ".join(psutil.Process(p).cmdline()) for p in seen if psutil.pid_exists(p))
        assert "prefect server start" in names and "lab.channels" in names and "cli.serve" in names
        assert "flows.loop" in names

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 0, (tmp_path / "serve.out").read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        out.close()
    time.sleep(0.5)
    left = [p for p in seen if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    for pid in left:  # leave nothing running whatever the outcome
        psutil.Process(pid).kill()
    assert not left, f"still running after SIGINT: {left}"
    for port in (prefect_port, receiver_port):
        with pytest.raises(requests.ConnectionError):
            requests.get(f"http://127.0.0.1:{port}/", timeout=2)
    assert "stopped:" in (tmp_path / "serve.out").read_text()
