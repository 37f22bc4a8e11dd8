"""Point-in-time correctness of ``ml_invoice_features``: no feature uses data from after its snapshot.

The same simulated world is built twice: as of D1, and as of D2 months later (same seed, so the
history up to D1 is identical and D2 only adds the future). Every invoice issued by D1 has its
features taken as of its issue date, so they must come out identical in both builds; any feature
reading a payment, dispute, contact or credit note from after the snapshot would differ.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.slow

D1 = date(2026, 5, 29)
D2 = date(2026, 11, 23)


def _build(root: Path, as_of: date) -> pd.DataFrame:
    from cobranza.settings import load_settings
    from flows import stages

    settings = load_settings(data_dir=root)
    ctx = stages.make_context(settings, as_of)
    stages.simulate(ctx)
    stages.ingest(ctx)
    stages.build(ctx, models="+ml_invoice_features")
    with duckdb.connect(str(settings.duckdb_path)) as con:
        return con.execute(
            "select * exclude (is_label_known, is_late) from marts.ml_invoice_features where snapshot_date <= ?",
            [D1],
        ).df()


def test_features_do_not_change_when_the_future_arrives(tmp_path: Path) -> None:
    early = _build(tmp_path / "d1", D1).set_index("invoice_id").sort_index()
    late = _build(tmp_path / "d2", D2).set_index("invoice_id").sort_index()
    assert len(early) > 5_000
    # An invoice posted at D1 can be cancelled by D2 and leave the (posted-only) mart; compare the rest.
    common = early.index.intersection(late.index)
    assert len(common) >= 0.99 * len(early)
    early, late = early.loc[common], late.loc[common]
    feature_cols = [c for c in early.columns if c.startswith("f_")]
    assert len(feature_cols) >= 15
    for col in feature_cols:
        a, b = early[col].to_numpy(dtype=float), late[col].to_numpy(dtype=float)
        same = np.isclose(a, b, equal_nan=True)
        assert same.all(), (
            f"{col} differs for {int((~same).sum())} invoices once later data exists, e.g. "
            f"{early.index[~same][0]}: {a[~same][0]} vs {b[~same][0]}"
        )
