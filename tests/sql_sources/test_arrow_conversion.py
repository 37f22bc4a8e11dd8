"""Driver values to Arrow: contract types first, exact decimals, and a text fallback instead of a crash."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pyarrow as pa

from connectors.sources.sql.source import arrow_type, column_to_arrow, rows_to_arrow


def test_contract_types_map_to_arrow() -> None:
    assert arrow_type("DECIMAL(18,2)") == pa.decimal128(18, 2)
    assert arrow_type("TIMESTAMP") == pa.timestamp("us") and arrow_type("DATE") == pa.date32()
    assert arrow_type("VARCHAR") == pa.string() and arrow_type("STRUCT(a INT)") is None


def test_rows_transpose_to_typed_columns_with_exact_decimals() -> None:
    rows = [("I1", Decimal("10.05"), date(2025, 1, 2), None), ("I2", Decimal("0.10"), None, datetime(2025, 1, 3))]
    types = [pa.string(), pa.decimal128(18, 2), pa.date32(), pa.timestamp("us")]
    t = rows_to_arrow(["id", "amount", "due", "at"], rows, types)
    assert t.schema.types == types
    assert t.column("amount").to_pylist() == [Decimal("10.05"), Decimal("0.10")]
    assert rows_to_arrow(["a", "b"], []).num_rows == 0


def test_values_that_do_not_fit_fall_back_without_losing_anything() -> None:
    money = pa.decimal128(18, 2)
    assert column_to_arrow([Decimal("1.005"), Decimal("2.00")], money).to_pylist() == ["1.005", "2.00"]
    assert column_to_arrow([Decimal("NaN"), None], money).to_pylist() == ["NaN", None]
    assert column_to_arrow([7, 8], pa.string()).to_pylist() == [7, 8]  # integer ids: the loader casts them
    plus2 = timezone(timedelta(hours=2))
    arr = column_to_arrow([datetime(2025, 1, 1, 3, 0, tzinfo=plus2)], None)
    assert arr.type == pa.timestamp("us") and arr.to_pylist() == [datetime(2025, 1, 1, 1, 0)]
    typed = column_to_arrow([datetime(2025, 1, 1, 3, 0, tzinfo=UTC)], pa.timestamp("us"))
    assert typed.to_pylist() == [datetime(2025, 1, 1, 3, 0)]
