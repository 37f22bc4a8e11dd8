"""The simulator's daily increments (``simulator.writers.simulate_day``): the day, exactly, not the history.

Onboarding lands the bulk exports; every later day the simulator writes only the rows that changed
that day, as an ERP's or CRM's daily export does (DESIGN §8), so a day's ingest reads the day. These
tests land the bulk export of one day plus the increments of the days after it, and the bulk export
of the last day on its own, through the real file connector into two warehouses, and require every
raw table to be identical (``EXCEPT ALL`` both ways, lineage columns aside).
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from connectors import contracts
from connectors.sources.files.config import simulator_mapping
from connectors.sources.files.reader import load_mapping_files
from simulator.writers import STREAM_FILES, SimulationManifest, increment_path, simulate_day

FIRST = date(2025, 12, 12)  # a Friday
DAYS = (date(2025, 12, 15), date(2025, 12, 16), date(2025, 12, 19))  # over a weekend, then two days at once
N = 300
SEED = 11
START = date(2024, 11, 1)


def _day(folder: Path, as_of: date, seed: int = SEED) -> SimulationManifest:
    return simulate_day(folder, profile="S", seed=seed, as_of=as_of, start_date=START, n_customers=N)


def _increments(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*_[0-9]*.*") if p.parent.name in ("erp", "crm", "bank"))


def _business(table: str, prefix: str = "") -> str:
    """The table's business columns (the lineage columns say when and from which file, and differ)."""
    contract = next(c for c in contracts.ALL_STREAMS if c.table == table)
    cols = ", ".join(f'"{c}"' for c in contract.column_names)
    return f"select {cols} from {prefix}{table}"


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[SimulationManifest]]:
    """Day by day (bulk, then increments) into one warehouse; the last day's bulk alone into another."""
    root = tmp_path_factory.mktemp("increments")
    daily, whole = root / "daily", root / "whole"
    con = duckdb.connect(str(root / "daily.duckdb"))
    manifests = []
    for as_of in (FIRST, *DAYS):
        manifests.append(_day(daily, as_of))
        load_mapping_files(con, simulator_mapping(daily))
    con.close()
    _day(whole, DAYS[-1])
    con = duckdb.connect(str(root / "whole.duckdb"))
    load_mapping_files(con, simulator_mapping(whole))
    con.close()
    return root, daily, manifests


def test_bulk_plus_increments_land_the_same_raw_tables_as_the_last_days_bulk(landed) -> None:
    root, _, _ = landed
    con = duckdb.connect(str(root / "daily.duckdb"), read_only=True)
    con.execute(f"attach '{root / 'whole.duckdb'}' as whole (read_only)")
    for table in STREAM_FILES:
        mine, theirs = _business(table), _business(table, "whole.")
        counts = con.execute(f"select (select count(*) from {table}), (select count(*) from whole.{table})").fetchone()
        assert counts[0] == counts[1] and counts[0] > 0, (table, counts)
        extra = con.execute(f"select count(*) from ({mine} except all {theirs})").fetchone()[0]
        missing = con.execute(f"select count(*) from ({theirs} except all {mine})").fetchone()[0]
        assert (extra, missing) == (0, 0), f"{table}: {extra} rows only day by day, {missing} only in the bulk"


def test_increments_hold_only_the_days_changes(landed) -> None:
    _, daily, manifests = landed
    first, *later = manifests
    assert first.since is None and set(first.files) == set(STREAM_FILES)
    for prev, m in zip(manifests, later, strict=False):
        assert m.since == prev.as_of
        assert m.files, "an ordinary business day changes something"
        for table, path in m.files.items():
            assert path == increment_path(daily / STREAM_FILES[table], m.as_of) and path.is_file()
            # far fewer rows than the bulk export: the day, not two years
            assert m.row_counts[table] < first.row_counts[table] / 5, (table, m.row_counts[table])
    bulk_interactions = first.row_counts[contracts.INTERACTIONS.table]
    assert sum(m.row_counts.get(contracts.INTERACTIONS.table, 0) for m in later) < bulk_interactions / 10
    # a day's increment names its day; nothing is written for a day twice
    assert len(_increments(daily)) == sum(len(m.files) for m in later)


def test_a_rerun_of_the_same_day_writes_nothing(landed) -> None:
    _, daily, manifests = landed
    before = {p: p.stat().st_mtime_ns for p in daily.rglob("*") if p.is_file() and "_truth" not in p.parts}
    again = _day(daily, DAYS[-1])
    assert again.as_of == DAYS[-1] and again.since == manifests[-1].since
    after = {p: p.stat().st_mtime_ns for p in daily.rglob("*") if p.is_file() and "_truth" not in p.parts}
    assert after == before


def test_another_history_writes_the_bulk_again_and_drops_the_increments(tmp_path: Path) -> None:
    _day(tmp_path, FIRST)
    _day(tmp_path, FIRST + timedelta(days=3))
    assert _increments(tmp_path)
    earlier = _day(tmp_path, FIRST - timedelta(days=1))  # a day before the last: the bulk as of that day
    assert earlier.since is None and not _increments(tmp_path)
    _day(tmp_path, FIRST)
    other_seed = _day(tmp_path, FIRST + timedelta(days=3), seed=SEED + 1)  # another world
    assert other_seed.since is None and not _increments(tmp_path)
    (tmp_path / STREAM_FILES[contracts.DISPUTES.table]).unlink()  # a bulk export removed by hand
    assert _day(tmp_path, FIRST + timedelta(days=4), seed=SEED + 1).since is None


@pytest.mark.parametrize(
    "manifest",
    [b"", b'{"profile": "S", "seed": 11, "as_of": "2025-12-1', b"\xff\xfe\x00garbage", b'{"profile": "S"}'],
    ids=["empty", "truncated", "wrong encoding", "missing keys"],
)
def test_a_damaged_manifest_rewrites_the_bulk_exports(tmp_path: Path, manifest: bytes) -> None:
    """A manifest that cannot be read says nothing about what is on disk: the bulk exports are written again."""
    _day(tmp_path, FIRST)
    _day(tmp_path, FIRST + timedelta(days=3))
    assert _increments(tmp_path)
    (tmp_path / "manifest.json").write_bytes(manifest)
    again = _day(tmp_path, FIRST + timedelta(days=4))
    assert again.since is None and not _increments(tmp_path)
    assert SimulationManifest.read(tmp_path).as_of == FIRST + timedelta(days=4)


def test_since_must_precede_as_of(tmp_path: Path) -> None:
    from simulator import simulate

    with pytest.raises(ValueError, match="must be before as_of"):
        simulate(tmp_path, profile="S", as_of=FIRST, n_customers=N, since=FIRST)
