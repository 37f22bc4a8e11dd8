"""prefect.yaml: the six scheduled deployments register on a real Prefect 3.8 server (the dispatcher's and
the inbound pass's schedules inactive: the service loop runs them).

The slow test starts ``prefect server start`` on 127.0.0.1 with ``PREFECT_HOME`` in a temporary
directory, creates the ``cobranza-process`` pool, runs ``prefect --no-prompt deploy --all`` in the
repository root and reads the deployments back through the REST API
(``POST /api/deployments/filter``). It needs the flow modules the entrypoints name and is skipped,
saying which file is missing, until they exist.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

REPO = Path(__file__).resolve().parents[1]
PREFECT = str(Path(sys.executable).with_name("prefect"))
POOL = "cobranza-process"
#: name -> (entrypoint, schedule: {"cron": ...} or {"interval": seconds}, (limit, collision strategy)).
EXPECTED = {
    "daily-collections": ("flows/daily.py:daily_collections", {"cron": "0 6 * * 1-5"}, (1, "ENQUEUE")),
    "bank-sync-hourly": ("flows/bank_sync.py:bank_sync", {"cron": "5 * * * *"}, (1, "CANCEL_NEW")),
    "weekly-retrain": ("flows/retrain.py:weekly_retrain", {"cron": "0 3 * * 0"}, (1, "ENQUEUE")),
    "dispatcher": ("flows/dispatcher.py:dispatcher", {"interval": 300}, (1, "CANCEL_NEW")),
    "inbound": ("flows/inbound.py:inbound", {"interval": 60}, (1, "CANCEL_NEW")),
    "kpi-report": ("flows/report.py:kpi_report", {"cron": "30 7 * * 1-5"}, (1, "CANCEL_NEW")),
}
#: Deployments whose schedule is declared but inactive: the service loop (``flows/loop.py``, started by
#: ``cobranza serve``) runs their passes without a process per run; the deployments stay for runs by hand.
INACTIVE = {"dispatcher", "inbound"}
TIMEZONE = "America/Mexico_City"


def load_prefect_yaml() -> dict:
    return yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))


def test_prefect_yaml_declares_the_six_scheduled_deployments():
    config = load_prefect_yaml()

    deployments = {d["name"]: d for d in config["deployments"]}
    assert set(deployments) == set(EXPECTED)
    for name, (entrypoint, schedule, (limit, strategy)) in EXPECTED.items():
        deployment = deployments[name]
        assert deployment["entrypoint"] == entrypoint
        assert deployment["parameters"] == {}
        assert deployment["work_pool"]["name"] == POOL
        active = name not in INACTIVE
        assert deployment["schedules"] == [{**schedule, "timezone": TIMEZONE, "active": active}], name
        assert deployment["concurrency_limit"] == {"limit": limit, "collision_strategy": strategy}
    (pull_step,) = config["pull"]
    assert list(pull_step) == ["prefect.deployments.steps.set_working_directory"]


def test_prefect_yaml_intervals_are_the_settings_defaults():
    """`cobranza serve` takes the zone and the dispatcher/inbound intervals from the settings: by default they agree."""
    from cobranza.settings import CompanySettings, ServiceSettings

    assert TIMEZONE == CompanySettings().timezone  # prefect.yaml's zone is the company's default zone
    deployments = {d["name"]: d for d in load_prefect_yaml()["deployments"]}
    service = ServiceSettings()
    assert deployments["dispatcher"]["schedules"][0]["interval"] == 60 * service.dispatch_interval_minutes
    assert deployments["inbound"]["schedules"][0]["interval"] == 60 * service.inbound_interval_minutes


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _prefect_env(home: Path, api_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_HOME=str(home),
        PREFECT_API_URL=api_url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_UI_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
        DO_NOT_TRACK="1",
    )
    return env


def _run(args: list[str], env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [PREFECT, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, (
        f"prefect {' '.join(args)} exited {result.returncode}\n"
        f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
    )
    return result


@pytest.fixture
def prefect_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A Prefect server on a free local port; yields its API URL and the CLI environment."""
    port = _free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    env = _prefect_env(tmp_path / "prefect_home", api_url)
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # own process group: teardown stops the server and its children
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                pytest.fail(f"prefect server exited {server.returncode}:\n{(tmp_path / 'server.log').read_text()}")
            try:
                if requests.get(f"{api_url}/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"prefect server not healthy after 120 s:\n{(tmp_path / 'server.log').read_text()}")
            time.sleep(0.5)
        yield api_url, env
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        log.close()


@pytest.mark.slow
def test_deploy_all_registers_scheduled_deployments(prefect_server):
    missing = [e.split(":")[0] for e, _, _ in EXPECTED.values() if not (REPO / e.split(":")[0]).is_file()]
    if missing:
        pytest.skip(f"flow modules not written yet: {', '.join(missing)}")
    api_url, env = prefect_server

    _run(["work-pool", "create", POOL, "--type", "process"], env)
    _run(["--no-prompt", "deploy", "--all"], env)

    response = requests.post(f"{api_url}/deployments/filter", json={}, timeout=30)
    response.raise_for_status()
    deployments = {d["name"]: d for d in response.json()}
    assert set(deployments) == set(EXPECTED)
    for name, (entrypoint, schedule, (limit, strategy)) in EXPECTED.items():
        deployment = deployments[name]
        assert deployment["entrypoint"] == entrypoint
        assert deployment["work_pool_name"] == POOL
        assert deployment["parameters"] == {}
        ((kind, value),) = schedule.items()
        registered = [(s["schedule"][kind], s["schedule"]["timezone"], s["active"]) for s in deployment["schedules"]]
        assert registered == [(value, TIMEZONE, name not in INACTIVE)], name
        assert deployment["global_concurrency_limit"]["limit"] == limit, name
        assert deployment["concurrency_options"]["collision_strategy"] == strategy, name
        assert deployment["pull_steps"] == [
            {"prefect.deployments.steps.set_working_directory": {"directory": str(REPO)}}
        ]


def test_no_flow_module_shadows_an_installed_package() -> None:
    """A file entrypoint (``flows/daily.py:...``) makes Prefect put ``flows/`` first on ``sys.path`` in
    the run's process: a module there named like an installed package (``flows/dbt.py`` once hid dbt:
    "'dbt' is not a package" at the dbt build of every scheduled daily run) would break the run."""
    script = (
        "import importlib.util, pathlib, sys\n"
        "sys.path = [p for p in sys.path if p not in ('', '.')]\n"
        "for f in sorted(pathlib.Path('flows').glob('*.py')):\n"
        "    if f.stem != '__init__' and importlib.util.find_spec(f.stem) is not None:\n"
        "        print(f.stem)\n"
    )
    shadowing = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert shadowing == [], f"flows/ modules named like installed packages: {shadowing}; rename them"
