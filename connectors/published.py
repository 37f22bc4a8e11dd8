"""The published read copy of the warehouse: what readers open so they never block a flow.

DuckDB lets one process hold a database file for writing, and a reader holding it (a SQL client, a
notebook, ``dbt docs``) blocks every writer. So the warehouse writers end each run by publishing a
copy (:func:`publish`), and readers open that copy read-only (:func:`connect`). Moves bytes only.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import duckdb


def publish(source: Path, target: Path) -> float:
    """Publish a consistent copy of the warehouse file for readers; return the seconds it took.

    The writer checkpoints (DuckDB's write-ahead log folded into the file), the file is copied next
    to ``target`` and renamed over it (``os.replace``, atomic): a reader that has the previous copy
    open keeps reading that snapshot, a new one opens the new copy, and nobody ever holds the file
    the flows write. Call it while no other connection to ``source`` is writing (the warehouse lock).
    """
    started = time.perf_counter()
    source, target = Path(source), Path(target)
    with duckdb.connect(str(source)) as con:
        con.execute("checkpoint").fetchall()
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(source, tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return time.perf_counter() - started


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    """Open a published copy for reading (many readers at once; never blocks a writer of the warehouse)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no published copy of the warehouse yet; run `cobranza run` first")
    return duckdb.connect(str(path), read_only=True)
