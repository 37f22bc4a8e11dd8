"""Fixtures for the SQL source tests: the real PostgreSQL and MariaDB servers and a simulated S world.

Each test gets its own schema (PostgreSQL) or database (MariaDB) with a unique name, dropped at the
end; a server that is not reachable skips its tests with the reason. URLs can be overridden with
``COBRANZA_TEST_PG_URL`` / ``COBRANZA_TEST_MARIADB_URL``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from simulator import SimulationManifest, simulate

URLS = {
    "postgres": os.environ.get("COBRANZA_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
    "mariadb": os.environ.get("COBRANZA_TEST_MARIADB_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}
_REACHABLE: dict[str, str | None] = {}


def unreachable_reason(backend: str) -> str | None:
    """None when the backend's server answers, else why not (checked once per session)."""
    if backend not in _REACHABLE:
        engine = sa.create_engine(URLS[backend], poolclass=sa.pool.NullPool, connect_args={"connect_timeout": 5})
        try:
            with engine.connect() as conn:
                conn.execute(sa.text("select 1")).fetchall()
            _REACHABLE[backend] = None
        except Exception as exc:  # noqa: BLE001 - any failure means: skip with the reason
            _REACHABLE[backend] = f"{backend} at {sa.make_url(URLS[backend]).render_as_string()} unreachable: {exc}"
        finally:
            engine.dispose()
    return _REACHABLE[backend]


@dataclass
class Db:
    """A scratch schema on one real server."""

    backend: str
    url: str
    schema: str
    engine: sa.Engine

    def q(self, name: str) -> str:
        """Quote an identifier for this server."""
        return self.engine.dialect.identifier_preparer.quote(name)

    def table(self, name: str) -> str:
        """Schema-qualified, quoted table name."""
        return f"{self.q(self.schema)}.{self.q(name)}"

    def execute(self, sql: str, params: dict | None = None) -> list[tuple]:
        """Run one statement in its own transaction; rows if it returns any."""
        with self.engine.begin() as conn:
            result = conn.execute(sa.text(sql), params or {})
            return [tuple(r) for r in result] if result.returns_rows else []


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> SimulationManifest:
    """A small simulated world (profile S, 200 customers), written once per session."""
    out: Path = tmp_path_factory.mktemp("sql-world")
    return simulate(out, profile="S", n_customers=200, as_of=date(2026, 11, 23))


@pytest.fixture(params=["postgres", "mariadb"])
def db(request: pytest.FixtureRequest) -> Iterator[Db]:
    """A unique, empty schema on PostgreSQL or MariaDB; dropped afterwards."""
    backend = request.param
    reason = unreachable_reason(backend)
    if reason:
        pytest.skip(reason)
    schema = f"cobranza_erp_t{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(URLS[backend], poolclass=sa.pool.NullPool)
    d = Db(backend, URLS[backend], schema, engine)
    try:
        yield d
    finally:
        kind = "schema" if backend == "postgres" else "database"
        cascade = " cascade" if backend == "postgres" else ""
        d.execute(f"drop {kind} if exists {d.q(schema)}{cascade}")
        engine.dispose()
