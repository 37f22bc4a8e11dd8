"""Smoke tests of the UIs people use, started the way the README and Makefile start them.

On the session's profile-S world (one daily run): ``mlflow ui --workers 1`` serves the experiment,
its runs and the registry with the ``champion`` alias (read through MLflow's REST API, as the UI
does); ``dbt docs generate`` documents every mart and every mart column and ``dbt docs serve``
serves the site; the Great Expectations Data Docs built by the run link to validation pages that
exist. The Prefect server with the deployments and schedules is covered by
tests/test_prefect_deploy.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests
from report_helpers import AS_OF
from ui_helpers import free_port, serving

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_mlflow_ui_shows_runs_and_the_registry(profile_s_data, tmp_path) -> None:
    port = free_port()
    cmd = [
        str(BIN / "mlflow"), "ui",
        "--backend-store-uri", f"sqlite:///{profile_s_data / 'mlflow.db'}",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    with serving(cmd, f"http://127.0.0.1:{port}/health", tmp_path / "mlflow.log", env=env):
        api = f"http://127.0.0.1:{port}/api/2.0/mlflow"
        assert "<html" in requests.get(f"http://127.0.0.1:{port}/", timeout=10).text.lower()
        experiments = requests.post(f"{api}/experiments/search", json={"max_results": 100}, timeout=10).json()
        (exp,) = [e for e in experiments["experiments"] if e["name"] == "cobranza/delinquency"]
        runs = requests.post(f"{api}/runs/search", json={"experiment_ids": [exp["experiment_id"]]}, timeout=10).json()
        assert runs["runs"], "the experiment has no runs"
        metrics = {m["key"] for r in runs["runs"] for m in r["data"].get("metrics", [])}
        assert "roc_auc" in metrics
        model = requests.get(f"{api}/registered-models/get", params={"name": "cobranza_delinquency"}, timeout=10)
        aliases = {a["alias"]: a["version"] for a in model.json()["registered_model"].get("aliases", [])}
        assert "champion" in aliases


def test_dbt_docs_describe_every_mart_and_serve(profile_s_data, tmp_path) -> None:
    target = tmp_path / "dbt-target"
    env = {**os.environ, "COBRANZA_DBT_DUCKDB_PATH": str(profile_s_data / "warehouse.duckdb")}
    common = ["--project-dir", str(REPO / "dbt_project"), "--profiles-dir", str(REPO / "dbt_project")]

    gen = subprocess.run(
        [str(BIN / "dbt"), "docs", "generate", *common, "--target-path", str(target),
         "--log-path", str(tmp_path / "logs"), "--vars", json.dumps({"as_of_date": AS_OF.isoformat()})],
        env=env, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert gen.returncode == 0, gen.stdout[-3000:] + gen.stderr[-3000:]
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    marts = {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] == "model" and "marts" in n["fqn"]}
    assert {"mart_collections_kpis", "fct_invoices", "dim_customers"} <= {n["name"] for n in marts.values()}
    for uid, node in marts.items():
        assert node["description"].strip(), f"{node['original_file_path']}: model {node['name']} has no description"
        columns = catalog["nodes"][uid]["columns"]
        assert columns, f"{node['name']} is missing from the catalog (not built?)"
        undocumented = [c for c in columns if not node["columns"].get(c.lower(), {}).get("description", "").strip()]
        assert not undocumented, f"{node['patch_path']}: {node['name']} columns without description: {undocumented}"
    port = free_port()
    serve = [str(BIN / "dbt"), "docs", "serve", *common, "--target-path", str(target), "--port", str(port),
             "--host", "127.0.0.1", "--no-browser"]  # fmt: skip
    with serving(serve, f"http://127.0.0.1:{port}/", tmp_path / "dbt-serve.log", env=env) as url:
        assert "dbt" in requests.get(url, timeout=10).text.lower()
        assert requests.get(f"{url}catalog.json", timeout=10).status_code == 200


def test_gx_data_docs_were_built_by_the_run(profile_s_data) -> None:
    sites = list((profile_s_data / "gx").rglob("data_docs/local_site/index.html"))
    assert len(sites) == 1, sites
    index = sites[0]
    page = index.read_text(encoding="utf-8")
    links = set(re.findall(r"validations/[^'\"\s#]+\.html", page))
    assert links, "the Data Docs index links to no validation result"
    for link in links:
        assert (index.parent / link).is_file(), link
    assert {"pre_dispatch", "raw"} <= {m for link in links for m in ("pre_dispatch", "raw") if f"/{m}-" in link}
