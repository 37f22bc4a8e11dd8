"""Fixtures for the API source tests: one small simulated world, emulators on 127.0.0.1, sources.

The world is generated once per session (profile S, 100 customers); each test gets fresh emulators
(so a test's edits never leak into another) on free loopback ports, and a temporary DuckDB.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import duckdb
import pytest

from connectors.sources.hubspot import HubSpotSource
from connectors.sources.odoo import OdooSource
from simulator import SimulationManifest, simulate
from simulator.emulators import HubSpotEmulator, OdooEmulator, RunningServer, serve

sys.path.insert(0, str(Path(__file__).resolve().parent))
from api_helpers import HUBSPOT_TOKEN, ODOO_KEY, hubspot_config, odoo_config  # noqa: E402

# The shared conformance suite lives beside the file connector's tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "connectors"))


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> SimulationManifest:
    """A small simulated AR world written to disk once per session."""
    return simulate(tmp_path_factory.mktemp("world"), profile="S", n_customers=100, as_of=date(2026, 11, 23))


@pytest.fixture
def odoo_emulator(world: SimulationManifest) -> Iterator[tuple[OdooEmulator, RunningServer]]:
    """The Odoo JSON-RPC emulator serving ``world``."""
    emu = OdooEmulator(world.out_dir, db="acme", login="bot@acme.test", api_key=ODOO_KEY)
    with serve(emu.app) as server:
        yield emu, server


@pytest.fixture
def hubspot_emulator(world: SimulationManifest) -> Iterator[tuple[HubSpotEmulator, RunningServer]]:
    """The HubSpot-style emulator serving ``world`` (no 429 injection by default)."""
    emu = HubSpotEmulator(world.out_dir, token=HUBSPOT_TOKEN)
    with serve(emu.app) as server:
        yield emu, server


@pytest.fixture
def odoo_source(odoo_emulator: tuple[OdooEmulator, RunningServer]) -> OdooSource:
    """An Odoo source configured against the emulator."""
    return OdooSource(odoo_config(odoo_emulator[1].base_url))


@pytest.fixture
def hubspot_source(hubspot_emulator: tuple[HubSpotEmulator, RunningServer]) -> HubSpotSource:
    """A HubSpot source configured against the emulator."""
    return HubSpotSource(hubspot_config(hubspot_emulator[1].base_url))


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """An empty temporary DuckDB warehouse."""
    con = duckdb.connect(str(tmp_path / "wh.duckdb"))
    yield con
    con.close()
