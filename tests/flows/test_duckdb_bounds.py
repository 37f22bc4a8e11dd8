"""DuckDB's bounds come from the settings (issue 19): every connection of a run, and dbt-duckdb's.

``warehouse.memory_limit``, ``warehouse.threads`` and ``warehouse.temp_directory`` keep a profile-L
run under the 4 GiB of DESIGN.md §9; the run context applies them to ``connectors.warehouse.connect``
and ``flows.dbt_runner`` hands them to the dbt profile (checked by hand with ``dbt show --inline "select
current_setting('memory_limit')"``: 953.6 MiB for 1GB; the L bench's dbt build peaks under the bound).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

AS_OF = date(2026, 11, 23)


@pytest.fixture
def bounded(tmp_path: Path):
    from cobranza.settings import load_settings
    from connectors import warehouse
    from flows import stages

    settings = load_settings(data_dir=tmp_path)
    settings.warehouse.memory_limit = "1GB"
    settings.warehouse.threads = 1
    before = warehouse.limits()
    yield stages.make_context(settings, AS_OF)
    warehouse.set_limits(**before)  # as the process had it


def test_every_connection_of_a_run_is_bounded_by_the_settings(bounded, tmp_path: Path) -> None:
    import os

    from connectors import warehouse
    from flows.dbt_runner import dbt_args

    with warehouse.connect(bounded.warehouse) as con:
        memory, threads, temp = con.execute(
            "select current_setting('memory_limit'), current_setting('threads'), current_setting('temp_directory')"
        ).fetchall()[0]
    assert memory == "953.6 MiB" and threads == 1  # 1GB = 10^9 bytes
    assert Path(temp) == tmp_path / "duckdb_tmp" and Path(temp).is_dir()
    dbt_args(["build"], duckdb_path=bounded.warehouse, work_dir=bounded.dbt_dir, as_of=AS_OF, late_days=30)
    assert os.environ["COBRANZA_DBT_DUCKDB_MEMORY_LIMIT"] == "1GB"  # read by dbt_project/profiles.yml
    assert os.environ["COBRANZA_DBT_DUCKDB_THREADS"] == "1"
    assert Path(os.environ["COBRANZA_DBT_DUCKDB_TEMP_DIRECTORY"]) == tmp_path / "duckdb_tmp"


def test_a_spilled_warehouse_takes_more_connections_and_a_dbt_run(bounded, tmp_path: Path) -> None:
    """DuckDB refuses to set its temp folder again once it spilled there, even to the same folder.

    The L build failed on it (``Cannot switch temporary directory after the current one has been
    used``): dbt-duckdb SET every profile setting on every cursor. Here a connection spills and stays
    open (the process shares one database instance per file); a second bounded connection and a dbt
    invocation on the same file must both work and keep the folder.
    """
    import duckdb

    from connectors import warehouse
    from flows.dbt_runner import run_dbt

    warehouse.set_limits(memory_limit="60MB", threads=1, temp_directory=tmp_path / "duckdb_tmp")
    with warehouse.connect(bounded.warehouse) as con:
        con.execute(
            "create table spilled as select i, md5(i::varchar) as s from range(3000000) r(i) order by s"
        )  # a sort far past 60MB: it spills
        with pytest.raises(duckdb.NotImplementedException, match="Cannot switch temporary directory"):
            con.execute(f"set temp_directory = '{tmp_path / 'duckdb_tmp'}'")  # it did spill there
        with warehouse.connect(bounded.warehouse) as second:
            assert second.execute("select current_setting('temp_directory')").fetchone()[0] == str(
                tmp_path / "duckdb_tmp"
            )
        counts = run_dbt(["seed"], duckdb_path=bounded.warehouse, work_dir=bounded.dbt_dir, as_of=AS_OF, late_days=30)
        assert counts.get("success", 0) >= 1
        assert con.execute("select current_setting('temp_directory')").fetchone()[0] == str(tmp_path / "duckdb_tmp")
