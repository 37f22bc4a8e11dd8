"""Latent synthetic AR world: customers, invoices, payments, contacts and their history (DESIGN.md §8).

The world is one fixed timeline that starts at ``start_date`` and runs for ``HORIZON_YEARS``. It is
generated in calendar-month chunks keyed by invoice issue month; each chunk draws from its own
``numpy`` generator seeded by ``(seed, stream, month)``, so what happens in a month never depends on
the date the world is observed at. ``as_of`` only decides what is *visible*: invoices issued after it
do not exist yet, bank lines booked after it have not arrived, ERP allocations recorded after it are
not in the ERP, and every ``updated_at`` is the instant of the last visible change. Identifiers are
derived from stable keys (issue order, per-day bank sequence), so the world seen at ``D`` is a prefix
of the world seen at ``D + n`` and the same ``(seed, as_of)`` always yields the same bytes.

Everything is vectorised with numpy / pyarrow; Python loops only run over chunks, countries, time
zones and remittance variants, never over invoices or payments.

Latent behaviour (kept apart as ground truth, never in the raw streams): each customer has a payment
class (``on_time``, ``slightly_late``, ``chronic``, ``deteriorating``, ``defaulting``), a response
propensity per channel, and a payment habit (pays each invoice, or batches payments in weekly or
month-end payment runs). Payments are partial, grouped, occasionally over the amount, and carry
remittance information of varying quality: the exact invoice number, a typo, a truncated or
reformatted number, several numbers, nothing useful, or an ISO 11649 ``RF`` creditor reference.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from connectors import contracts
from simulator import profiles as P

DAY = 86_400
NEVER = 1 << 30  # day sentinel: the event never happens
HORIZON_YEARS = 5
MIN_HISTORY_DAYS = 60
REMITTANCE_MAX_CHARS = 140  # camt.053 Ustrd / SEPA unstructured remittance limit

# Remittance quality categories recorded in the ground truth.
REMITTANCE_QUALITIES: tuple[str, ...] = (
    "exact",
    "typo",
    "truncated",
    "reformatted",
    "several",
    "missing",
    "structured",
)
Q_EXACT, Q_TYPO, Q_TRUNC, Q_REFORMAT, Q_SEVERAL, Q_MISSING, Q_STRUCT = range(7)

OUTCOMES: tuple[str, ...] = (
    "delivered",
    "read",
    "replied",
    "bounced",
    "promise_to_pay",
    "dispute",
    "paid_claim",
)
O_DELIVERED, O_READ, O_REPLIED, O_BOUNCED, O_PROMISE, O_DISPUTE, O_PAID_CLAIM = range(7)
INTERACTION_CHANNELS: tuple[str, ...] = (*P.CHANNELS, "letter")
REMINDER_OFFSETS = np.array([-3, 3, 10, 20, 35, 50, 70], dtype=np.int32)  # days from due date

# Bank line kinds, in the order lines of one value date are numbered.
K_CUSTOMER, K_SUPPLIER, K_FEE, K_INTEREST = range(4)

# Per-payment-part uniforms drawn in the chunk (stable), used when the transfer is assembled.
U_RF, U_QUALITY, U_PREFIX, U_DETAIL, U_PAYER, U_PAYER_IBAN, U_BOOKING, U_OVERPAY, U_ERP_TXN, U_DETAIL2 = range(10)
N_UNIFORMS = 10

# Types of the contract columns, DuckDB SQL -> Arrow.
ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "INTEGER": pa.int32(),
    "BOOLEAN": pa.bool_(),
    contracts.MONEY: pa.decimal128(18, 2),
}


@dataclass(frozen=True)
class WorldConfig:
    """Parameters of one simulated world.

    Attributes:
        seed: Seed of every random draw.
        start_date: First day of the timeline.
        as_of: Observation date; everything after its end (UTC) is invisible.
        n_customers: Number of customers over the horizon.
        invoice_number_width: Zero-padded width of the per-year invoice sequence.
        defects: Inject a few deliberate data-quality defects (for quality-gate tests).
        credit_control: The ERP's credit control: limits cover four median orders and an order
            over the limit in force is released up to 90% of it (on in worlds that plant the
            early-warning anomalies, ``simulator.anomalies``, so an invoice over the limit is news).
    """

    seed: int
    start_date: date
    as_of: date
    n_customers: int
    invoice_number_width: int = 6
    defects: bool = False
    credit_control: bool = False

    @property
    def horizon_end(self) -> date:
        """Last day events are generated for."""
        return horizon_end(self.start_date)


@dataclass
class World:
    """The visible world at ``as_of``: raw tables keyed by raw table name, and the ground truth.

    Attributes:
        tables: ``raw_<system>.<stream>`` -> Arrow table with exactly the contract's columns.
        truth: Ground-truth table name -> Arrow table (evaluation only).
        defects: Human-readable list of the defects injected, empty unless asked for.
    """

    tables: dict[str, pa.Table]
    truth: dict[str, pa.Table]
    defects: list[str] = field(default_factory=list)


def horizon_end(start_date: date) -> date:
    """Return the last day of the fixed generation horizon that starts at ``start_date``."""
    return start_date + timedelta(days=round(365.25 * HORIZON_YEARS))


def validate_dates(start_date: date, as_of: date) -> None:
    """Check that ``as_of`` lies inside the simulated horizon.

    Raises:
        ValueError: If ``as_of`` is less than ``MIN_HISTORY_DAYS`` after ``start_date`` or beyond the
            horizon.
    """
    earliest = start_date + timedelta(days=MIN_HISTORY_DAYS)
    latest = horizon_end(start_date)
    if as_of < earliest:
        raise ValueError(
            f"as_of={as_of.isoformat()} is too early: the simulator needs at least {MIN_HISTORY_DAYS} days"
            f" of history after start_date={start_date.isoformat()}; use as_of >= {earliest.isoformat()}"
        )
    if as_of > latest:
        raise ValueError(
            f"as_of={as_of.isoformat()} is beyond the simulated horizon ({HORIZON_YEARS} years from"
            f" start_date={start_date.isoformat()}); use as_of <= {latest.isoformat()} or a later start_date"
        )


# --------------------------------------------------------------------------------------------------
# small vectorised helpers


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed % (1 << 63), *keys]))


def _day(d: date) -> int:
    return (d - date(1970, 1, 1)).days


def _weekday(days: np.ndarray) -> np.ndarray:
    """Monday = 0 (1970-01-01 was a Thursday)."""
    return (days + 3) % 7


def _roll_business(days: np.ndarray) -> np.ndarray:
    """Move Saturdays and Sundays to the following Monday."""
    wd = _weekday(days)
    return days + np.where(wd == 5, 2, np.where(wd == 6, 1, 0)).astype(days.dtype)


def _year(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970


def _month_end(days: np.ndarray) -> np.ndarray:
    months = days.astype("datetime64[D]").astype("datetime64[M]")
    return ((months + 1).astype("datetime64[D]") - 1).astype(np.int64).astype(days.dtype)


def _round_money(cents: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """Round float cents to int cents, to whole currency units where the currency is used that way."""
    return np.where(whole, np.round(cents / 100.0) * 100.0, np.round(cents)).astype(np.int64)


def _digits(nums: np.ndarray, k: int) -> np.ndarray:
    """(n, k) matrix of the k least significant decimal digits, most significant first."""
    pows = 10 ** np.arange(k - 1, -1, -1, dtype=np.int64)
    return (nums.astype(np.int64)[:, None] // pows[None, :]) % 10


def _rows_to_str(mat: np.ndarray) -> np.ndarray:
    """ASCII code matrix (n, w) -> object array of str (one per row)."""
    mat = np.ascontiguousarray(mat, dtype=np.uint8)
    width = mat.shape[1]
    return mat.view(f"S{width}").ravel().astype(f"U{width}").astype(object)


def _pad(nums: np.ndarray, width: int) -> pa.Array:
    return pc.utf8_lpad(pc.cast(pa.array(np.asarray(nums, dtype=np.int64)), pa.string()), width, "0")


def _join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def _ids(prefix: str, nums: np.ndarray, width: int) -> pa.Array:
    return _join(prefix, _pad(nums, width))


def money_array(cents: np.ndarray, null_mask: np.ndarray | None = None) -> pa.Array:
    """Exact ``decimal128(18, 2)`` array from integer cents (no float on the way).

    Args:
        cents: Integer amounts in hundredths of the currency unit.
        null_mask: Optional boolean mask of null positions.

    Returns:
        An Arrow decimal array whose unscaled values are ``cents``.
    """
    c = np.ascontiguousarray(cents, dtype=np.int64)
    buf = np.empty((c.size, 2), dtype=np.int64)
    buf[:, 0] = c
    buf[:, 1] = c >> 63  # two's-complement sign extension to 128 bits
    arr = pa.Array.from_buffers(pa.decimal128(18, 2), c.size, [None, pa.py_buffer(buf)])
    if null_mask is not None and null_mask.any():
        arr = pc.if_else(pa.array(null_mask), pa.scalar(None, pa.decimal128(18, 2)), arr)
    return arr


def _date_array(days: np.ndarray, null_mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), pa.date32(), mask=null_mask)


def _ts_array(secs: np.ndarray, null_mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(secs, dtype=np.int64) * 1_000_000, pa.timestamp("us"), mask=null_mask)


def _str_array(values: np.ndarray | pa.Array, null_mask: np.ndarray | None = None) -> pa.Array:
    arr = values if isinstance(values, pa.Array) else pa.array(values, pa.string())
    if null_mask is not None and null_mask.any():
        arr = pc.if_else(pa.array(null_mask), pa.scalar(None, pa.string()), arr)
    return arr


def _pick(options: tuple[str, ...], idx: np.ndarray) -> pa.Array:
    return pa.DictionaryArray.from_arrays(
        pa.array(np.asarray(idx, dtype=np.int32)), pa.array(options, pa.string())
    ).cast(pa.string())


def _table(contract: contracts.StreamContract, cols: dict[str, pa.Array]) -> pa.Table:
    """Arrow table with exactly the contract's columns, in order and with the contract's types."""
    names = contract.column_names
    if set(cols) != set(names):
        raise AssertionError(f"{contract.table}: columns {sorted(cols)} != contract {sorted(names)}")
    arrays = [cols[c.name].cast(ARROW_TYPES[c.type]) for c in contract.columns]
    fields = [pa.field(c.name, ARROW_TYPES[c.type], nullable=c.nullable) for c in contract.columns]
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _ascii_slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


def _local_to_utc(day: np.ndarray, local_sec: np.ndarray, tz_idx: np.ndarray, zones: list[str]) -> np.ndarray:
    """Epoch seconds (UTC) of local wall-clock times in the given IANA zones.

    The UTC offset is looked up per (zone, local day) at noon, which is exact for daytime instants:
    DST transitions in every simulated zone happen at night.
    """
    if day.size == 0:
        return np.zeros(0, dtype=np.int64)
    first = int(day.min())
    days = np.arange(first, int(day.max()) + 1, dtype=np.int64)
    noon = days * DAY + 12 * 3600
    offsets = np.empty((len(zones), days.size), dtype=np.int64)
    for i, tz in enumerate(zones):
        local = pd.DatetimeIndex(noon.astype("datetime64[s]")).tz_localize(tz)
        utc = local.tz_convert("UTC").tz_localize(None).to_numpy().astype("datetime64[s]").astype(np.int64)
        offsets[i] = utc - noon
    return day.astype(np.int64) * DAY + local_sec + offsets[tz_idx, day.astype(np.int64) - first]


# --------------------------------------------------------------------------------------------------
# identifiers with check digits (tax ids, bank accounts, RF creditor references)


def _mod11_dv(body: np.ndarray, weights: list[int]) -> np.ndarray:
    s = (_digits(body, len(weights)) * np.array(weights)).sum(axis=1)
    return s % 11


def _tax_ids(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    """Company tax identifiers per country, with valid check digits where the scheme has one."""
    n = country.size
    out = np.empty(n, dtype=object)
    codes = np.array(P.COUNTRY_CODES)[country]
    a = ord("A")

    m = codes == "MX"  # RFC persona moral: 3 letters, YYMMDD, 3-character homoclave
    k = int(m.sum())
    if k:
        mat = np.empty((k, 12), dtype=np.uint8)
        mat[:, :3] = a + rng.integers(0, 26, (k, 3))
        founded = rng.integers(_day(date(1975, 1, 1)), _day(date(2020, 12, 31)), k)
        ymd = founded.astype("datetime64[D]").astype(object)
        yymmdd = np.array([d.year % 100 * 10000 + d.month * 100 + d.day for d in ymd], dtype=np.int64)
        mat[:, 3:9] = 48 + _digits(yymmdd, 6)
        alnum = np.frombuffer(b"ABCDEFGHJKLMNPQRSTUVWXYZ123456789", dtype=np.uint8)
        mat[:, 9:11] = alnum[rng.integers(0, alnum.size, (k, 2))]
        mat[:, 11] = 48 + rng.integers(0, 10, k)
        out[m] = _rows_to_str(mat)

    m = codes == "CO"  # NIT: 9 digits + DIAN mod-11 check digit
    k = int(m.sum())
    if k:
        body = 800_000_000 + rng.integers(0, 102_000_000, k)
        r = _mod11_dv(body, [41, 37, 29, 23, 19, 17, 13, 7, 3])
        dv = np.where(r < 2, r, 11 - r)
        out[m] = (pc.cast(pa.array(body), pa.string()).to_numpy(zero_copy_only=False) + "-") + dv.astype(str)

    m = codes == "ES"  # CIF: A/B + province + 5 digits + control digit
    k = int(m.sum())
    if k:
        body = rng.integers(1, 53, k) * 100_000 + rng.integers(0, 100_000, k)
        d = _digits(body, 7)
        even = d[:, 1] + d[:, 3] + d[:, 5]
        odd2 = d[:, [0, 2, 4, 6]] * 2
        odd = (odd2 // 10 + odd2 % 10).sum(axis=1)
        ctrl = (10 - (even + odd) % 10) % 10
        mat = np.empty((k, 9), dtype=np.uint8)
        mat[:, 0] = np.where(rng.random(k) < 0.7, ord("B"), ord("A"))
        mat[:, 1:8] = 48 + d
        mat[:, 8] = 48 + ctrl
        out[m] = _rows_to_str(mat)

    m = codes == "CL"  # RUT: body + mod-11 verifier (K for 10)
    k = int(m.sum())
    if k:
        body = 76_000_000 + rng.integers(0, 2_000_000, k)
        dv = 11 - _mod11_dv(body, [3, 2, 7, 6, 5, 4, 3, 2])
        mat = np.empty((k, 10), dtype=np.uint8)
        mat[:, :8] = 48 + _digits(body, 8)
        mat[:, 8] = ord("-")
        mat[:, 9] = np.where(dv == 11, ord("0"), np.where(dv == 10, ord("K"), 48 + dv))
        out[m] = _rows_to_str(mat)

    for code, prefix, sep in (("PE", 20, False), ("AR", 30, True)):  # RUC / CUIT, same weights
        m = codes == code
        k = int(m.sum())
        if not k:
            continue
        body = prefix * 100_000_000 + rng.integers(0, 100_000_000, k)
        dv = 11 - _mod11_dv(body, [5, 4, 3, 2, 7, 6, 5, 4, 3, 2])
        if code == "AR":
            for _ in range(4):  # a CUIT whose verifier would be 10 is not issued; take the next number
                bad = dv == 10
                if not bad.any():
                    break
                body = body + bad
                dv = 11 - _mod11_dv(body, [5, 4, 3, 2, 7, 6, 5, 4, 3, 2])
            dv = np.where(dv == 11, 0, np.where(dv == 10, 9, dv))
        else:
            dv = np.where(dv == 10, 0, np.where(dv == 11, 1, dv))
        digits = 48 + _digits(body, 10)
        if sep:
            mat = np.empty((k, 13), dtype=np.uint8)
            mat[:, :2] = digits[:, :2]
            mat[:, 2] = ord("-")
            mat[:, 3:11] = digits[:, 2:]
            mat[:, 11] = ord("-")
            mat[:, 12] = 48 + dv
        else:
            mat = np.empty((k, 11), dtype=np.uint8)
            mat[:, :10] = digits
            mat[:, 10] = 48 + dv
        out[m] = _rows_to_str(mat)

    m = codes == "US"  # EIN: valid campus prefix + 7 digits
    k = int(m.sum())
    if k:
        prefixes = np.array([12, 13, 20, 26, 27, 35, 36, 38, 41, 46, 47, 52, 54, 56, 61, 65, 71, 75, 81, 84, 91])
        mat = np.empty((k, 10), dtype=np.uint8)
        mat[:, :2] = 48 + _digits(prefixes[rng.integers(0, prefixes.size, k)], 2)
        mat[:, 2] = ord("-")
        mat[:, 3:] = 48 + rng.integers(0, 10, (k, 7))
        out[m] = _rows_to_str(mat)
    return out


def _mod97(digit_matrix: np.ndarray) -> np.ndarray:
    r = np.zeros(digit_matrix.shape[0], dtype=np.int64)
    for j in range(digit_matrix.shape[1]):
        r = (r * 10 + digit_matrix[:, j]) % 97
    return r


def _bank_accounts(rng: np.random.Generator, country: np.ndarray) -> np.ndarray:
    """Bank account identifiers: Spanish IBANs, Mexican CLABEs, national account numbers elsewhere."""
    n = country.size
    out = np.empty(n, dtype=object)
    codes = np.array(P.COUNTRY_CODES)[country]
    for c in P.COUNTRIES:
        m = codes == c.code
        k = int(m.sum())
        if not k:
            continue
        if c.code == "ES":
            banks = np.array([49, 182, 2100, 81, 2038, 128])
            bank = banks[rng.integers(0, banks.size, k)]
            branch = rng.integers(0, 10_000, k)
            acct = _digits(rng.integers(0, 10**10, k), 10)
            w = np.array([1, 2, 4, 8, 5, 10, 9, 7, 3, 6])
            first = np.concatenate([np.zeros((k, 2), np.int64), _digits(bank, 4), _digits(branch, 4)], axis=1)
            dc = []
            for part in (first, acct):
                d = 11 - (part * w).sum(axis=1) % 11
                dc.append(np.where(d == 11, 0, np.where(d == 10, 1, d)))
            bban = np.concatenate([_digits(bank, 4), _digits(branch, 4), dc[0][:, None], dc[1][:, None], acct], axis=1)
            tail = np.tile(np.array([1, 4, 2, 8, 0, 0]), (k, 1))  # "ES00" moved to the end, E=14 S=28
            check = 98 - _mod97(np.concatenate([bban, tail], axis=1))
            mat = np.empty((k, 24), dtype=np.uint8)
            mat[:, 0] = ord("E")
            mat[:, 1] = ord("S")
            mat[:, 2:4] = 48 + _digits(check, 2)
            mat[:, 4:] = 48 + bban
        elif c.code == "MX":
            banks = np.array([2, 12, 14, 21, 72, 30])
            d = np.concatenate(
                [
                    _digits(banks[rng.integers(0, banks.size, k)], 3),
                    _digits(rng.integers(1, 1000, k), 3),
                    _digits(rng.integers(0, 10**11, k), 11),
                ],
                axis=1,
            )
            w = np.tile(np.array([3, 7, 1]), 6)[:17]
            check = (10 - ((d * w) % 10).sum(axis=1) % 10) % 10
            mat = (48 + np.concatenate([d, check[:, None]], axis=1)).astype(np.uint8)
        else:
            mat = (48 + rng.integers(0, 10, (k, c.account_digits))).astype(np.uint8)
            mat[:, 0] = 48 + rng.integers(1, 10, k)
        out[m] = _rows_to_str(mat)
    return out


def rf_check_digits(ref_numeric: np.ndarray) -> np.ndarray:
    """ISO 11649 check digits for purely numeric references (``RFcc`` + reference).

    Args:
        ref_numeric: References as integers below 10**12.

    Returns:
        Check digits 2..98 as integers.
    """
    # Move "RF00" to the end: R=27, F=15 -> digits "271500".
    return 98 - (ref_numeric.astype(np.int64) * 1_000_000 + 271_500) % 97


# --------------------------------------------------------------------------------------------------
# customers and contacts (time-invariant latent attributes + a few dated changes)


def _customers(cfg: WorldConfig) -> dict[str, np.ndarray]:
    rng = _rng(cfg.seed, 0)
    n = cfg.n_customers
    start = _day(cfg.start_date)
    horizon_days = _day(cfg.horizon_end) - start
    country_w = np.array([c.weight for c in P.COUNTRIES])
    city_p = P.CITY_WEIGHT * country_w[P.CITY_COUNTRY]
    city = rng.choice(len(P.CITY_NAMES), size=n, p=city_p / city_p.sum()).astype(np.int16)
    country = P.CITY_COUNTRY[city].astype(np.int16)
    seg = rng.choice(3, size=n, p=P.SEGMENT_WEIGHTS).astype(np.int8)
    cls = rng.choice(len(P.LATENT_CLASSES), size=n, p=P.LATENT_CLASS_WEIGHTS).astype(np.int8)
    terms = np.zeros(n, dtype=np.int32)
    for s in range(3):
        m = seg == s
        terms[m] = rng.choice(P.SEGMENT_TERMS[s], size=int(m.sum()), p=P.SEGMENT_TERMS_P[s])
    rate = P.SEGMENT_INVOICES_PER_YEAR[seg] * rng.gamma(4.0, 0.25, n)
    usd = np.array([c.usd_rate for c in P.COUNTRIES])[country]
    whole = np.array([c.whole_units for c in P.COUNTRIES])[country]
    log_scale = np.log(P.SEGMENT_MEDIAN_USD[seg] * usd * 100.0) + rng.normal(0.0, 0.5, n)
    is_new = rng.random(n) < 0.05
    created_day = np.where(
        is_new, start + rng.integers(0, horizon_days, n), start - rng.integers(30, 3 * 365, n)
    ).astype(np.int32)
    created_sec = rng.integers(13 * 3600, 23 * 3600, n)
    annual = rate * np.exp(log_scale + 0.18)  # lognormal mean of invoice amounts (sigma 0.6)
    thousand = 1000 * 100  # credit limits are round thousands of the currency
    credit_limit = (
        np.maximum(np.round(annual * terms / 365.0 * rng.uniform(1.2, 2.5, n) / thousand), 1).astype(np.int64)
        * thousand
    )
    # credit control: the credit department's limit also covers four median orders (about the 99th
    # percentile of one order), so a usual order fits within it (no draw: the rest of the world is unchanged)
    if cfg.credit_control:
        order_floor = np.ceil(np.exp(log_scale) * 4.0 / thousand).astype(np.int64) * thousand
        credit_limit = np.maximum(credit_limit, order_floor)
    cl_change = rng.random(n) < 0.2
    cl_change_day = np.where(cl_change, start + rng.integers(30, horizon_days, n), NEVER)
    cl_change_day = np.maximum(cl_change_day, created_day + 1).astype(np.int32)
    cl_change_sec = rng.integers(13 * 3600, 23 * 3600, n)
    cl_new = (
        np.maximum(np.round(credit_limit * rng.choice([0.5, 0.75, 1.25, 1.5], n) / thousand), 1).astype(np.int64)
        * thousand
    )
    batch = rng.random(n) < np.array([0.6, 0.3, 0.1])[seg]
    batch_mode = np.where(batch, np.where(rng.random(n) < 0.3, 2, 1), 0).astype(np.int8)
    run_wd = rng.choice([1, 3, 4], n).astype(np.int32)
    delay_offset = rng.normal(0.0, 2.0, n)
    det_onset = (start + rng.integers(0, 730, n)).astype(np.int32)
    det_slope = rng.uniform(1.5, 5.0, n)
    default_day = (start + rng.integers(90, 3 * 365, n)).astype(np.int32)
    sens = np.clip(P.CHANNEL_BASE[country] * rng.lognormal(0.0, 0.5, (n, 4)), 0.01, 0.95)
    uses_rf = rng.random(n) < np.where(np.array(P.COUNTRY_CODES)[country] == "ES", 0.6, 0.15)
    rf_payer = uses_rf & (rng.random(n) < 0.8)

    # Names: "<type> <root> [<surname>] <legal suffix>" (English order in the US).
    is_us = np.array(P.COUNTRY_CODES)[country] == "US"
    types_es = np.array(P.COMPANY_TYPES_ES, dtype=object)
    types_en = np.array(P.COMPANY_TYPES_EN, dtype=object)
    roots_es = np.array(P.COMPANY_ROOTS_ES, dtype=object)
    roots_en = np.array(P.COMPANY_ROOTS_EN, dtype=object)
    sur_es = np.array(P.SURNAMES_ES, dtype=object)
    sur_en = np.array(P.SURNAMES_EN, dtype=object)
    ti = rng.integers(0, 20, n)
    ri = rng.integers(0, 40, n)
    si = rng.integers(0, 30, n)
    s2 = rng.integers(0, 30, n)
    qi = rng.integers(0, len(P.COMPANY_QUALIFIERS_ES), n)
    has_sur = rng.random(n) < 0.75
    has_pair = has_sur & (rng.random(n) < 0.35)  # "Hernández y López", "Smith & Brown"
    has_q = (rng.random(n) < 0.55) | ~has_sur  # every name has a surname or a qualifier
    root_en = roots_en[ri % 20]
    sur_en_v = sur_en[si % 20] + np.where(has_pair, " & " + sur_en[s2 % 20], "")
    sur_es_v = sur_es[si] + np.where(has_pair, " y " + sur_es[s2], "")
    qual_es = np.where(has_q, " " + np.array(P.COMPANY_QUALIFIERS_ES, dtype=object)[qi], "")
    qual_en = np.where(has_q, " " + np.array(P.COMPANY_QUALIFIERS_EN, dtype=object)[qi], "")
    base_es = types_es[ti] + " " + roots_es[ri] + np.where(has_sur, " " + sur_es_v, "") + qual_es
    base_en = np.where(has_sur, sur_en_v + " ", "") + root_en + " " + types_en[ti] + qual_en
    base = np.where(is_us, base_en, base_es)
    suffix = np.empty(n, dtype=object)
    for ci, c in enumerate(P.COUNTRIES):
        m = country == ci
        suffix[m] = np.array(c.legal_suffixes, dtype=object)[rng.integers(0, len(c.legal_suffixes), int(m.sum()))]
    name = base + " " + suffix
    slug = np.vectorize(_ascii_slug, otypes=[object])
    slug_t = np.where(is_us, slug(types_en)[ti], slug(types_es)[ti])
    slug_r = np.where(is_us, slug(roots_en)[ri % 20], slug(roots_es)[ri])
    slug_s = np.where(has_sur, np.where(is_us, slug(sur_en)[si % 20], slug(sur_es)[si]), "")
    tld = np.array([c.tld for c in P.COUNTRIES], dtype=object)[country]
    domain = slug_r + slug_s + slug_t + "." + tld

    return {
        "n": np.int64(n),
        "city": city,
        "country": country,
        "segment": seg,
        "cls": cls,
        "terms": terms,
        "rate": rate,
        "whole": whole,
        "log_scale": log_scale,
        "created_day": created_day,
        "created_sec": created_sec,
        "credit_limit": credit_limit,
        "cl_change_day": cl_change_day,
        "cl_change_sec": cl_change_sec,
        "cl_new": cl_new,
        "batch_mode": batch_mode,
        "run_wd": run_wd,
        "delay_offset": delay_offset,
        "det_onset": det_onset,
        "det_slope": det_slope,
        "default_day": default_day,
        "sens": sens,
        "uses_rf": uses_rf,
        "rf_payer": rf_payer,
        "name": name,
        "name_base": base,
        "domain": domain,
        "tax_id": _tax_ids(rng, country),
        "account": _bank_accounts(rng, country),
        "account_alt": _bank_accounts(rng, country),
    }


def _phones(rng: np.random.Generator, country: np.ndarray, mobile: np.ndarray) -> np.ndarray:
    out = np.empty(country.size, dtype=object)
    suffix = _pad(rng.integers(0, 10**P.PHONE_SUFFIX_DIGITS, country.size), P.PHONE_SUFFIX_DIGITS)
    suffix = suffix.to_numpy(zero_copy_only=False)
    for ci, c in enumerate(P.COUNTRIES):
        for is_mobile in (True, False):
            m = (country == ci) & (mobile == is_mobile)
            k = int(m.sum())
            if not k:
                continue
            pool = np.array(P.phone_prefix_pool(c.code, is_mobile), dtype=object)
            out[m] = pool[rng.integers(0, pool.size, k)] + suffix[m]
    return out


def _contacts(cfg: WorldConfig, cust: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    rng = _rng(cfg.seed, 3)
    n = int(cust["n"])
    start = _day(cfg.start_date)
    horizon_days = _day(cfg.horizon_end) - start
    per = rng.choice([1, 2, 3], size=n, p=[0.45, 0.35, 0.20])
    cc = np.repeat(np.arange(n, dtype=np.int32), per)
    k = cc.size
    first = np.concatenate([[0], np.cumsum(per)[:-1]])
    pos = np.arange(k) - np.repeat(first, per)
    role = np.where(pos == 0, 0, rng.choice(3, size=k, p=[0.2, 0.3, 0.5])).astype(np.int8)
    country = cust["country"][cc]
    codes = np.array(P.COUNTRY_CODES)[country]
    r = rng.random(k)
    lang = np.where(
        codes == "US",
        np.where(r < 0.9, 1, 0),
        np.where(codes == "ES", np.where(r < 0.95, 0, 1), np.where(r < 0.93, 0, np.where(r < 0.97, 2, 1))),
    ).astype(np.int8)  # 0 es, 1 en, 2 pt
    languages = ("es", "en", "pt")
    firsts = [np.array(x, dtype=object) for x in (P.FIRST_NAMES_ES, P.FIRST_NAMES_EN, P.FIRST_NAMES_PT)]
    lasts = [np.array(x, dtype=object) for x in (P.SURNAMES_ES, P.SURNAMES_EN, P.SURNAMES_PT)]
    full = np.empty(k, dtype=object)
    local = np.empty(k, dtype=object)
    slug = np.vectorize(_ascii_slug, otypes=[object])
    for li in range(3):
        m = lang == li
        km = int(m.sum())
        fi = rng.integers(0, firsts[li].size, km)
        la = rng.integers(0, lasts[li].size, km)
        lb = rng.integers(0, lasts[li].size, km)
        second = (rng.random(km) < 0.5) & (li == 0)
        full[m] = firsts[li][fi] + " " + lasts[li][la] + np.where(second, " " + lasts[li][lb], "")
        local[m] = slug(firsts[li])[fi] + "." + slug(lasts[li])[la]
    mailbox = (role == 2) & (rng.random(k) < 0.3)
    for li, lng in enumerate(languages):
        m = mailbox & (lang == li)
        boxes = np.array(P.AP_MAILBOXES[lng], dtype=object)
        local[m] = boxes[rng.integers(0, boxes.size, int(m.sum()))]
    email = local + "@" + cust["domain"][cc]
    has_email = rng.random(k) < 0.95
    has_phone = rng.random(k) < 0.93
    has_email |= ~has_phone
    mobile = rng.random(k) < 0.8
    phone = _phones(rng, country, mobile)
    # Time zone of the contact's address: usually the customer's city, sometimes another city.
    cities = np.arange(len(P.CITY_NAMES))
    city_start = np.array([cities[P.CITY_COUNTRY == i].min() for i in range(len(P.COUNTRIES))])
    city_count = np.array([(P.CITY_COUNTRY == i).sum() for i in range(len(P.COUNTRIES))])
    other_city = city_start[country] + (rng.random(k) * city_count[country]).astype(np.int64)
    city = np.where(rng.random(k) < 0.9, cust["city"][cc], other_city)
    zones = sorted(set(P.CITY_TZ))
    city_tz_idx = np.array([zones.index(z) for z in P.CITY_TZ])
    tz_idx = city_tz_idx[city]
    consent = np.stack(
        [
            has_email & (rng.random(k) < 0.85),
            has_phone & mobile & (rng.random(k) < 0.6),
            has_phone & mobile & (rng.random(k) < 0.5),
            has_phone & (rng.random(k) < 0.7),
        ],
        axis=1,
    )
    consent &= (rng.random(k) >= 0.06)[:, None]  # some contacts never consented to anything
    score = consent * cust["sens"][cc] * rng.uniform(0.5, 1.5, (k, 4))
    pref = np.where(consent.any(axis=1), score.argmax(axis=1), -1).astype(np.int8)
    pref_hour = rng.integers(9, 19, k).astype(np.int32)
    created_day = cust["created_day"][cc]
    created_sec = cust["created_sec"][cc] + rng.integers(60, 3600, k)
    change = rng.random(k) < 0.12
    change_day = np.where(change, start + rng.integers(1, horizon_days, k), NEVER).astype(np.int32)
    change_day = np.maximum(change_day, created_day + 1)
    change_sec = rng.integers(13 * 3600, 23 * 3600, k)
    change_ch = rng.integers(0, 4, k)
    debtor_idx = first.astype(np.int64)  # first contact of each customer is a debtor
    return {
        "cust": cc,
        "role": role,
        "full_name": full,
        "email": email,
        "has_email": has_email,
        "phone": phone,
        "has_phone": has_phone,
        "mobile": mobile,
        "lang": lang,
        "tz_idx": tz_idx,
        "zones": np.array(zones, dtype=object),
        "consent": consent,
        "pref": pref,
        "pref_hour": pref_hour,
        "created_day": created_day,
        "created_sec": created_sec,
        "change_day": change_day,
        "change_sec": change_sec,
        "change_ch": change_ch,
        "debtor_idx": debtor_idx,
    }


# --------------------------------------------------------------------------------------------------
# one issue-month chunk: invoices and every event that follows from them


def _month_chunk(
    cfg: WorldConfig, cust: dict[str, np.ndarray], debtor: dict[str, np.ndarray], m: int, lo: int, hi: int
) -> dict[str, dict[str, np.ndarray]]:
    rng = _rng(cfg.seed, 1, m)
    nc = int(cust["n"])
    span = hi - lo
    cnt = rng.poisson(cust["rate"] * span / 365.25)
    ci = np.repeat(np.arange(nc, dtype=np.int32), cnt)
    issue = (lo + rng.integers(0, span, ci.size)).astype(np.int32)
    keep = issue >= cust["created_day"][ci]
    ci, issue = ci[keep], issue[keep]
    order = np.lexsort((ci, issue))
    ci, issue = ci[order], issue[order]
    k = ci.size
    cls = cust["cls"][ci]
    whole = cust["whole"][ci]
    issue_sec = rng.integers(14 * 3600, 23 * 3600, k).astype(np.int32)
    total = np.maximum(_round_money(np.exp(cust["log_scale"][ci] + rng.normal(0.0, 0.6, k)), whole), 10_000)
    # the ERP's credit check: an order over the limit in force is released only up to 90% of the limit
    if cfg.credit_control:
        in_force = np.where(issue >= cust["cl_change_day"][ci], cust["cl_new"][ci], cust["credit_limit"][ci])
        total = np.minimum(total, np.maximum(_round_money(in_force * 0.9, whole), 10_000))
    terms = cust["terms"][ci]
    due = issue + terms
    cancelled = rng.random(k) < 0.02
    cancel_day = (issue + rng.integers(0, 8, k)).astype(np.int32)
    cancel_sec = rng.integers(13 * 3600, 23 * 3600, k).astype(np.int32)
    posted = ~cancelled

    p_disp = np.where((cls == 2) | (cls == 3), 0.05, 0.025)
    disputed = posted & (rng.random(k) < p_disp)
    d_open = (issue + rng.integers(3, terms + 16)).astype(np.int32)
    d_res = np.where(rng.random(k) < 0.85, d_open + rng.integers(3, 61, k), NEVER).astype(np.int32)
    d_open_sec = rng.integers(13 * 3600, 23 * 3600, k).astype(np.int32)
    d_res_sec = rng.integers(13 * 3600, 23 * 3600, k).astype(np.int32)
    reason = rng.choice(len(P.DISPUTE_REASONS), size=k, p=[0.3, 0.2, 0.15, 0.15, 0.1, 0.1]).astype(np.int8)

    cn_from_dispute = disputed & (d_res < NEVER) & P.DISPUTE_REASONS_CREDITED[reason] & (rng.random(k) < 0.6)
    cn_plain = posted & ~disputed & (rng.random(k) < 0.025)
    has_cn = cn_from_dispute | cn_plain
    cn_day = np.where(cn_from_dispute, d_res, issue + rng.integers(2, 26, k)).astype(np.int32)
    cn_sec = rng.integers(13 * 3600, 23 * 3600, k).astype(np.int32)
    full_cn = (rng.random(k) < 0.2) | (cn_from_dispute & (reason == P.DISPUTE_REASONS.index("duplicate_billing")))
    cn_part = np.clip(_round_money(total * rng.uniform(0.05, 0.6, k), whole), 100, total - 100)
    cn_amt = np.where(has_cn, np.where(full_cn, total, cn_part), 0).astype(np.int64)
    net = total - cn_amt

    # Days paid after the due date, by latent class.
    since_onset = np.maximum(0, issue - cust["det_onset"][ci]) / 30.0
    delay = np.select(
        [cls == 0, cls == 1, cls == 2, cls == 3],
        [
            np.minimum(rng.normal(-2.0, 3.0, k), 6.0),
            rng.gamma(2.0, 5.0, k) - 1.0,
            rng.gamma(3.0, 14.0, k) + 5.0,
            np.minimum(rng.gamma(2.0, 3.0, k) + cust["det_slope"][ci] * since_onset, 200.0),
        ],
        rng.gamma(2.0, 6.0, k) + 2.0,
    )
    december = due.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64) % 12 == 11
    delay = delay + cust["delay_offset"][ci] + np.where(december, 5.0, 0.0)
    pay = np.maximum(due + np.round(delay).astype(np.int64), issue + 1)
    pay = np.where(has_cn, np.maximum(pay, cn_day + 1), pay)
    pay = np.where(disputed, np.maximum(pay, d_res.astype(np.int64) + rng.integers(1, 11, k)), pay)
    default_day = cust["default_day"][ci]
    unpaid = (
        cancelled
        | (net <= 0)
        | (pay >= NEVER)
        | ((cls == 4) & (pay >= default_day))
        | (rng.random(k) < 0.003)  # the odd invoice nobody ever pays (lost, written off)
    )
    pay = np.where(unpaid, NEVER, pay).astype(np.int32)
    partial = ~unpaid & (rng.random(k) < 0.08) & (net >= 20_000)
    p1 = np.clip(_round_money(net * rng.uniform(0.3, 0.7, k), whole), 100, net - 100)
    pay2 = (pay + rng.integers(7, 46, k)).astype(np.int32)
    pay2 = np.where(partial & ~((cls == 4) & (pay2 >= default_day)), pay2, NEVER).astype(np.int32)

    inv = {
        "cust": ci,
        "issue": issue,
        "issue_sec": issue_sec,
        "due": due.astype(np.int32),
        "total": total,
        "cancelled": cancelled,
        "cancel_day": cancel_day,
        "cancel_sec": cancel_sec,
        "has_cn": has_cn,
        "cn_day": cn_day,
        "cn_sec": cn_sec,
        "cn_amt": cn_amt,
        "disputed": disputed,
        "d_open": d_open,
        "d_open_sec": d_open_sec,
        "d_res": d_res,
        "d_res_sec": d_res_sec,
        "reason": reason,
        "partial": partial,
    }

    # Payment parts: the first (full or partial) payment and, for partial payers, the remainder.
    i0 = np.flatnonzero(~unpaid)
    i1 = np.flatnonzero(pay2 < NEVER)
    p_inv = np.concatenate([i0, i1]).astype(np.int64)
    p_no = np.concatenate([np.zeros(i0.size, np.int8), np.ones(i1.size, np.int8)])
    p_day = np.concatenate([pay[i0], pay2[i1]]).astype(np.int32)
    p_amt = np.concatenate([np.where(partial[i0], p1[i0], net[i0]), net[i1] - p1[i1]]).astype(np.int64)
    o = np.argsort(p_inv * 2 + p_no, kind="stable")
    n_parts = p_inv.size
    parts = {
        "inv": p_inv[o],
        "part_no": p_no[o],
        "day": p_day[o],
        "amount": p_amt[o],
        "lag": rng.integers(1, 6, n_parts).astype(np.int8),
        "rec_sec": rng.integers(13 * 3600, 23 * 3600, n_parts).astype(np.int32),
        "u": rng.random((n_parts, N_UNIFORMS), dtype=np.float32),
    }

    # Collection history: reminders on overdue invoices until paid or disputed.
    in_program = posted & (rng.random(k) < 0.65)
    courtesy = rng.random(k) < 0.3
    stop = np.minimum(pay, np.where(disputed, d_open, NEVER)).astype(np.int64)
    rem_day = _roll_business(due[:, None].astype(np.int64) + REMINDER_OFFSETS[None, :])
    mask = in_program[:, None] & (rem_day < stop[:, None])
    mask[:, 0] &= courtesy
    ri, rk = np.nonzero(mask)
    r_day = rem_day[ri, rk]
    nr = ri.size
    r_cust = ci[ri]
    consent = debtor["consent"][r_cust]
    w = consent * rng.random((nr, 4))
    ch = np.where(consent.any(axis=1), w.argmax(axis=1), 4).astype(np.int8)
    sens = np.where(ch < 4, cust["sens"][r_cust, np.minimum(ch, 3)], 0.05)
    bounced = rng.random(nr) < np.where(ch == 0, 0.04, np.where(ch == 4, 0.01, 0.02))
    responded = ~bounced & (rng.random(nr) < sens)
    promise = responded & (rng.random(nr) < 0.5)
    read = ~bounced & ~responded & (ch <= 1) & (rng.random(nr) < 0.5)
    outcome = np.select(
        [bounced, promise, responded, read], [O_BOUNCED, O_PROMISE, O_REPLIED, O_READ], O_DELIVERED
    ).astype(np.int8)
    r_pay = pay[ri].astype(np.int64)
    kept = (r_pay - r_day <= 21) & (rng.random(nr) < 0.7)
    promised = np.where(kept, r_pay, r_day + rng.integers(3, 15, nr))
    promised = np.where(promise, promised, NEVER).astype(np.int32)
    promised_amt = np.where(promise, net[ri], -1).astype(np.int64)
    r_sec = rng.integers(9 * 3600, 18 * 3600, nr).astype(np.int32)

    di = np.flatnonzero(disputed)
    claim = posted & in_program & (pay < NEVER) & (pay > due + 3) & (rng.random(k) < 0.15)
    pi = np.flatnonzero(claim)
    inbound_ch = rng.choice([0, 1, 3], size=k, p=[0.5, 0.3, 0.2]).astype(np.int8)
    inbound_sec = rng.integers(9 * 3600, 18 * 3600, k).astype(np.int32)
    inter = {
        "inv": np.concatenate([ri, di, pi]).astype(np.int64),
        "k": np.concatenate([rk, np.full(di.size, 7), np.full(pi.size, 8)]).astype(np.int8),
        "day": np.concatenate([r_day, d_open[di], pay[pi]]).astype(np.int32),
        "local_sec": np.concatenate([r_sec, inbound_sec[di], inbound_sec[pi]]).astype(np.int32),
        "channel": np.concatenate([ch, inbound_ch[di], inbound_ch[pi]]).astype(np.int8),
        "inbound": np.concatenate([np.zeros(nr, bool), np.ones(di.size + pi.size, bool)]),
        "outcome": np.concatenate(
            [outcome, np.full(di.size, O_DISPUTE, np.int8), np.full(pi.size, O_PAID_CLAIM, np.int8)]
        ),
        "promised": np.concatenate([promised, np.full(di.size + pi.size, NEVER, np.int32)]),
        "promised_amt": np.concatenate([promised_amt, np.full(di.size + pi.size, -1, np.int64)]),
    }

    # Bank lines that are not customer payments: supplier payments, fees, interest.
    brng = _rng(cfg.seed, 2, m)
    n_acc = len(P.COUNTRIES)
    acc_w = np.array([c.weight for c in P.COUNTRIES])
    n_sup = int(brng.poisson(max(3.0, nc * 0.03) * span / 30.0))
    usd = np.array([c.usd_rate for c in P.COUNTRIES])
    whole_acc = np.array([c.whole_units for c in P.COUNTRIES])
    sup_acc = brng.choice(n_acc, size=n_sup, p=acc_w)
    sup_day = _roll_business(lo + brng.integers(0, span, n_sup))
    sup_amt = np.maximum(
        _round_money(np.exp(np.log(usd[sup_acc] * 300_000.0) + brng.normal(0.0, 1.0, n_sup)), whole_acc[sup_acc]),
        100,
    )
    acc = np.arange(n_acc)
    fee_day = _roll_business(np.full(n_acc, hi - 1))
    fee_amt = _round_money(usd * 2_500.0 * brng.uniform(0.8, 1.2, n_acc), whole_acc)
    int_amt = np.maximum(_round_money(usd * 10_000.0 * brng.uniform(0.1, 3.0, n_acc), whole_acc), 100)
    other = {
        "kind": np.concatenate([np.full(n_sup, K_SUPPLIER), np.full(n_acc, K_FEE), np.full(n_acc, K_INTEREST)]),
        "key": np.concatenate([np.arange(n_sup), acc, acc]).astype(np.int64) + m * 10_000_000,
        "acc": np.concatenate([sup_acc, acc, acc]),
        "day": np.concatenate([sup_day, fee_day, fee_day]).astype(np.int32),
        "amount": np.concatenate([sup_amt, fee_amt, int_amt]).astype(np.int64),
        "text": np.concatenate([brng.integers(0, len(P.DEBIT_TEXTS), n_sup), np.zeros(2 * n_acc, np.int64)]),
        "party": np.concatenate([brng.integers(0, len(P.SUPPLIER_NAMES), n_sup), np.zeros(2 * n_acc, np.int64)]),
    }
    return {"inv": inv, "parts": parts, "inter": inter, "other": other}


def _concat(
    chunks: list[dict[str, np.ndarray]], offsets: np.ndarray | None = None, keep_below: int | None = None
) -> dict[str, np.ndarray]:
    """Concatenate chunk arrays; shift chunk-local invoice indices by ``offsets``; keep rows whose
    global invoice index is below ``keep_below`` (invoices issued by as_of)."""
    masks = None
    if offsets is not None:
        for c, off in zip(chunks, offsets, strict=True):
            c["inv"] = c["inv"] + off
        if keep_below is not None:
            masks = [c["inv"] < keep_below for c in chunks]
    out = {}
    for key in list(chunks[0]):
        arrs = [c.pop(key) for c in chunks]
        if masks is not None:
            arrs = [a[mk] for a, mk in zip(arrs, masks, strict=True)]
        out[key] = np.concatenate(arrs)
        del arrs
    return out


def _chunk_bounds(start_date: date, as_of: date) -> list[tuple[int, int, int]]:
    """(chunk index, first day, day after last) of each issue month from start_date to as_of."""
    start = _day(start_date)
    end = _day(as_of) + 1
    month0 = np.datetime64(start_date, "M")
    bounds = []
    m = 0
    lo = start
    while lo < end:
        hi = int((month0 + m + 1).astype("datetime64[D]").astype(np.int64))
        bounds.append((m, lo, hi))
        lo = hi
        m += 1
    return bounds


# --------------------------------------------------------------------------------------------------
# assembly of the visible world


def _place(n: int, pieces: list[tuple[np.ndarray, pa.Array]], type_: pa.DataType | None = None) -> pa.Array:
    """Length-``n`` array with each piece's values at its positions; uncovered positions are null."""
    type_ = type_ or pa.string()
    covered = np.zeros(n, dtype=bool)
    for idx, _ in pieces:
        covered[idx] = True
    rest = np.flatnonzero(~covered)
    order = np.concatenate([np.asarray(idx, dtype=np.int64) for idx, _ in pieces] + [rest])
    values = pa.concat_arrays([arr.cast(type_) for _, arr in pieces] + [pa.nulls(rest.size, type_)])
    where = np.empty(n, dtype=np.int64)
    where[order] = np.arange(n)
    return values.take(pa.array(where))


def _fixed_width_bytes(arr: pa.Array, width: int) -> np.ndarray:
    """(n, width) uint8 view-copy of a string array whose values all have ``width`` ASCII bytes."""
    arr = pa.concat_arrays([arr])  # fresh, offset-free buffers
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int32, count=len(arr) + 1)
    data = np.frombuffer(arr.buffers()[2], dtype=np.uint8)
    return data[offsets[0] : offsets[0] + width * len(arr)].reshape(len(arr), width).copy()


def _bytes_to_strings(mat: np.ndarray, lengths: np.ndarray | None = None) -> pa.Array:
    """String array from the rows of an ASCII byte matrix, each cut to ``lengths`` if given."""
    n, width = mat.shape
    if lengths is None:
        lengths = np.full(n, width, dtype=np.int64)
    keep = np.arange(width)[None, :] < lengths[:, None]
    data = np.ascontiguousarray(mat[keep])
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)
    return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def build_world(cfg: WorldConfig) -> World:
    """Generate the world and return what is visible at ``cfg.as_of``, all tables in memory.

    Args:
        cfg: World parameters.

    Returns:
        The raw tables (contract columns and types) and the ground truth.

    Raises:
        ValueError: If ``as_of`` is outside the horizon or ``n_customers`` is not positive.
    """
    defects: list[str] = []
    tables: dict[str, pa.Table] = {}
    truth: dict[str, pa.Table] = {}
    for name, table in iter_world(cfg, defects):
        if name.startswith(TRUTH_PREFIX):
            truth[name.removeprefix(TRUTH_PREFIX)] = table
        else:
            tables[name] = table
    return World(tables=tables, truth=truth, defects=defects)


TRUTH_PREFIX = "_truth."


def iter_world(cfg: WorldConfig, defects: list[str] | None = None) -> Iterator[tuple[str, pa.Table]]:
    """Generate the world and yield its visible tables one at a time (bounded memory).

    Raw tables are yielded under their raw table name (``raw_erp.invoices``), ground-truth tables
    under ``_truth.<name>``. A consumer that writes and drops each table keeps the peak memory at the
    latent world plus one table.

    Args:
        cfg: World parameters.
        defects: If given, descriptions of injected defects are appended to it (``cfg.defects``).

    Yields:
        ``(name, table)`` pairs.

    Raises:
        ValueError: If ``as_of`` is outside the horizon or ``n_customers`` is not positive.
    """
    validate_dates(cfg.start_date, cfg.as_of)
    if cfg.n_customers <= 0:
        raise ValueError(f"n_customers must be positive, got {cfg.n_customers}")
    log = defects if defects is not None else []

    def emit(name: str, table: pa.Table) -> tuple[str, pa.Table]:
        if cfg.defects and not name.startswith(TRUTH_PREFIX):
            table = _inject_defects(name, table, _rng(cfg.seed, 99, len(log)), log)
        return name, table

    cust = _customers(cfg)
    cont = _contacts(cfg, cust)
    debtor = {"consent": cont["consent"][cont["debtor_idx"]]}
    bounds = _chunk_bounds(cfg.start_date, cfg.as_of)
    inv_c, parts_c, inter_c, other_c = [], [], [], []
    for m, lo, hi in bounds:
        chunk = _month_chunk(cfg, cust, debtor, m, lo, hi)
        inv_c.append(chunk["inv"])
        parts_c.append(chunk["parts"])
        inter_c.append(chunk["inter"])
        other_c.append(chunk["other"])
        del chunk
    sizes = np.array([c["cust"].size for c in inv_c], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    v = _Visible(cfg, cust)
    # Invoices are sorted by issue day, so the ones issued by as_of are a prefix.
    n_inv = int(np.searchsorted(np.concatenate([c["issue"] for c in inv_c]), v.day, side="right"))
    inv = {key: a[:n_inv].copy() for key, a in _concat(inv_c).items()}
    del inv_c
    parts = _concat(parts_c, offsets, keep_below=n_inv)
    del parts_c
    inter = _concat(inter_c, offsets, keep_below=n_inv)
    del inter_c
    other = _concat(other_c)
    del other_c
    v.invoice_keys(inv)

    for name, table in _party_tables(v, cust, cont):
        yield emit(name, table)
    yield emit(contracts.INTERACTIONS.table, _interaction_table(v, inv, inter, cont))
    del inter, cont

    tr = _transfers(parts, inv, cust)
    lines = _number_lines(tr, other, v.day)
    for name, table in _bank_tables(v, cust, inv, parts, tr, other, lines):
        yield emit(name, table)
    del other
    allocations, alloc = _allocation_table(v, inv, parts, tr, lines)
    del parts, tr, lines
    yield emit(contracts.PAYMENT_ALLOCATIONS.table, allocations)
    del allocations
    for name, table in _erp_tables(v, inv, alloc):
        yield emit(name, table)


class _Visible:
    """What every table builder needs: the cut-off, customer ids and the visible invoices' keys."""

    def __init__(self, cfg: WorldConfig, cust: dict[str, np.ndarray]) -> None:
        self.cfg = cfg
        self.day = _day(cfg.as_of)
        self.cutoff = (self.day + 1) * DAY  # instants before the end of as_of (UTC) are visible
        self.cust_arrays = cust  # the optional ERP attributes of invoices read the customer's (issue 22)
        n = int(cust["n"])
        self.customer_ids = _ids("C", np.arange(1, n + 1), max(6, len(str(n))))
        self.currency = np.array([c.currency for c in P.COUNTRIES])
        self.cust_currency = pa.array(self.currency[cust["country"]], pa.string())
        self.uses_rf = cust["uses_rf"]  # customers whose invoices carry an RF creditor reference

    def invoice_keys(self, inv: dict[str, np.ndarray]) -> None:
        n = inv["issue"].size
        width = self.cfg.invoice_number_width
        year = _year(inv["issue"])
        seq = np.arange(n) - np.searchsorted(year, year, side="left") + 1
        self.n_inv = n
        self.invoice_ids = _ids("inv_", np.arange(1, n + 1), 8)
        self.numbers = _join("INV-", pc.cast(pa.array(year), pa.string()), "-", _pad(seq, width))
        self.number_width = 9 + width
        ref = year * 10**width + seq
        self.rf = _join("RF", _pad(rf_check_digits(ref), 2), _pad(ref, 4 + width))

    def cust(self, idx: np.ndarray) -> pa.Array:
        return self.customer_ids.take(pa.array(idx))

    def invoice(self, idx: np.ndarray) -> pa.Array:
        return self.invoice_ids.take(pa.array(idx))

    def currency_of(self, cust_idx: np.ndarray) -> pa.Array:
        return self.cust_currency.take(pa.array(cust_idx))


def _transfers(parts: dict[str, np.ndarray], inv: dict[str, np.ndarray], cust: dict[str, np.ndarray]) -> dict:
    """Group payment parts into bank transfers (payment runs, business days, batches)."""
    p_cust = inv["cust"][parts["inv"]]
    mode = cust["batch_mode"][p_cust]
    nat = parts["day"].astype(np.int64)
    weekly = nat + (cust["run_wd"][p_cust] - _weekday(nat)) % 7
    value = _roll_business(np.where(mode == 1, weekly, np.where(mode == 2, _month_end(nat), nat)))
    part_key = parts["inv"] * 2 + parts["part_no"]
    grouped = (mode > 0) & ~inv["partial"][parts["inv"]]
    tkey = np.where(grouped, p_cust.astype(np.int64) * (1 << 22) + value, -(part_key + 1))
    _, tix = np.unique(tkey, return_inverse=True)
    order = np.lexsort((part_key, tix))
    tix_sorted = tix[order]
    starts = np.flatnonzero(np.r_[True, tix_sorted[1:] != tix_sorted[:-1]])
    first_part = order[starts]
    amount = np.add.reduceat(parts["amount"][order], starts) if order.size else np.zeros(0, np.int64)
    nparts = np.diff(np.r_[starts, order.size])
    t_value = value[first_part]
    t_cust = p_cust[first_part]
    u = parts["u"][first_part]
    booking = np.where(u[:, U_BOOKING] < 0.1, _roll_business(t_value + 1), t_value)
    whole = cust["whole"][t_cust]
    overpay = (nparts == 1) & (u[:, U_OVERPAY] < 0.006)
    extra = np.where(overpay, np.maximum(_round_money(amount * 0.01, whole), np.where(whole, 100, 1)), 0)
    t_pos = np.empty(first_part.size, dtype=np.int64)
    t_pos[tix_sorted[starts]] = np.arange(first_part.size)
    return {
        "n": first_part.size,
        "part_key": part_key,
        "part_t": t_pos[tix],  # transfer of each part
        "first_part": first_part,
        "nparts": nparts,
        "value": t_value,
        "booking": booking,
        "cust": t_cust,
        "amount": amount,
        "extra": extra,
        "u": u,
    }


def _number_lines(tr: dict, other: dict[str, np.ndarray], day: int) -> dict:
    """Number bank lines per value date; customer transfers first, ``n`` = number of transfers.

    Every line value-dated on or before ``day`` gets ``BT<yyyymmdd>-<seq>``; lines of one date are
    ordered by kind and a stable key, so the numbering never changes when the world is observed later.
    """
    nt = tr["n"]
    all_day = np.concatenate([tr["value"], other["day"]]).astype(np.int64)
    kind = np.concatenate([np.full(nt, K_CUSTOMER), other["kind"]])
    key = np.concatenate([tr["part_key"][tr["first_part"]], other["key"]])
    booking = np.concatenate([tr["booking"], other["day"]]).astype(np.int64)
    known = np.flatnonzero(all_day <= day)
    known = known[np.lexsort((key[known], kind[known], all_day[known]))]
    kd = all_day[known]
    rank = np.arange(kd.size) - np.searchsorted(kd, kd, side="left") + 1
    ymd = pc.replace_substring(pc.cast(_date_array(kd), pa.string()), "-", "")
    pos = np.full(all_day.size, -1, dtype=np.int64)
    pos[known] = np.arange(known.size)
    return {
        "ids": _join("BT", ymd, "-", _pad(rank, 6)),  # in `known` order
        "pos": pos,  # line -> position in ids (-1 if value-dated after as_of)
        "visible": known[booking[known] <= day],  # booked by as_of, in id order
        "day": all_day,
        "booking": booking,
        "kind": kind,
    }


def _line_ids(lines: dict, idx: np.ndarray) -> pa.Array:
    return lines["ids"].take(pa.array(lines["pos"][idx]))


def _bank_tables(
    v: _Visible,
    cust: dict[str, np.ndarray],
    inv: dict[str, np.ndarray],
    parts: dict[str, np.ndarray],
    tr: dict,
    other: dict[str, np.ndarray],
    lines: dict,
) -> Iterator[tuple[str, pa.Table]]:
    nt = tr["n"]
    vis = lines["visible"]
    n = vis.size
    is_c = vis < nt
    pc_pos = np.flatnonzero(is_c)  # positions (in the output) of customer transfers
    po_pos = np.flatnonzero(~is_c)
    vt = vis[is_c]  # visible transfers
    vo = vis[~is_c] - nt  # visible other lines
    text_c, cref_c, quality = _remittance(v, vt, tr, parts, inv, cust)
    name_c, iban_c, payer_kind = _payer(vt, tr, cust)
    o_kind = other["kind"][vo]
    sup = np.flatnonzero(o_kind == K_SUPPLIER)
    o_text = np.where(o_kind == K_FEE, len(P.DEBIT_TEXTS), np.where(o_kind == K_INTEREST, len(P.DEBIT_TEXTS) + 1, 0))
    o_text = np.where(o_kind == K_SUPPLIER, other["text"][vo], o_text)
    acc = np.empty(n, dtype=np.int64)
    acc[is_c] = cust["country"][tr["cust"][vt]]
    acc[~is_c] = other["acc"][vo]
    amount = np.empty(n, dtype=np.int64)
    amount[is_c] = tr["amount"][vt] + tr["extra"][vt]
    amount[~is_c] = other["amount"][vo]
    credit = np.ones(n, dtype=bool)
    credit[~is_c] = o_kind == K_INTEREST
    company_acc = _bank_accounts(_rng(v.cfg.seed, 9), np.arange(len(P.COUNTRIES)))
    line_ids = _line_ids(lines, vis)
    statement_lines = _table(
        contracts.STATEMENT_LINES,
        {
            "bank_txn_id": line_ids,
            "account_iban": pa.array(company_acc, pa.string()).take(pa.array(acc)),
            "booking_date": _date_array(lines["booking"][vis]),
            "value_date": _date_array(lines["day"][vis]),
            "amount": money_array(amount),
            "currency": pa.array(v.currency, pa.string()).take(pa.array(acc)),
            "credit_debit": _pick(("DBIT", "CRDT"), credit.astype(np.int8)),
            "counterparty_name": _place(
                n, [(pc_pos, name_c), (po_pos[sup], _pick(P.SUPPLIER_NAMES, other["party"][vo][sup]))]
            ),
            "counterparty_iban": _place(n, [(pc_pos, iban_c)]),
            "remittance_text": _place(
                n,
                [
                    (pc_pos, text_c),
                    (po_pos, _pick((*P.DEBIT_TEXTS, "COMISION MANTENIMIENTO CUENTA", "ABONO INTERESES"), o_text)),
                ],
            ),
            "creditor_reference": _place(n, [(pc_pos, cref_c)]),
            # the simulated bank books no reversals or returns
            "is_reversal": pa.array(np.zeros(n, dtype=bool)),
            "return_reason": pa.nulls(n, pa.string()),
            "end_to_end_id": pa.nulls(n, pa.string()),
            "reversal_of": pa.nulls(n, pa.string()),
        },
    )
    yield contracts.STATEMENT_LINES.table, statement_lines
    del statement_lines
    cust_of_line = np.zeros(n, dtype=np.int64)
    cust_of_line[is_c] = tr["cust"][vt]
    q = np.zeros(n, dtype=np.int8)
    q[is_c] = quality
    pk = np.zeros(n, dtype=np.int8)
    pk[is_c] = payer_kind
    nparts = np.zeros(n, dtype=np.int32)
    nparts[is_c] = tr["nparts"][vt]
    extra = np.zeros(n, dtype=np.int64)
    extra[is_c] = tr["extra"][vt]
    truth_lines = pa.table(
        {
            "bank_txn_id": line_ids,
            "customer_id": _str_array(v.cust(cust_of_line), ~is_c),
            "kind": _pick(("customer_payment", "supplier_payment", "bank_fee", "interest"), lines["kind"][vis]),
            "remittance_quality": _str_array(_pick(REMITTANCE_QUALITIES, q), ~is_c),
            "payer": _str_array(_pick(PAYER_KINDS, pk), ~is_c),
            "n_invoices": pa.array(nparts, pa.int32()),
            "overpaid_amount": money_array(extra),
        }
    )
    yield TRUTH_PREFIX + "bank_lines", truth_lines
    del truth_lines
    is_vis_t = np.zeros(nt, dtype=bool)
    is_vis_t[vt] = True
    tp = np.flatnonzero(is_vis_t[tr["part_t"]])
    tp = tp[np.lexsort((tr["part_key"][tp], lines["pos"][tr["part_t"][tp]]))]
    truth_alloc = pa.table(
        {
            "bank_txn_id": _line_ids(lines, tr["part_t"][tp]),
            "invoice_id": v.invoice(parts["inv"][tp]),
            "amount": money_array(parts["amount"][tp]),
        }
    )
    yield TRUTH_PREFIX + "bank_line_invoices", truth_alloc


def _allocation_table(
    v: _Visible, inv: dict[str, np.ndarray], parts: dict[str, np.ndarray], tr: dict, lines: dict
) -> tuple[pa.Table, dict[str, np.ndarray]]:
    """ERP payment allocations, recorded 1-5 days after the value date and never before booking."""
    part_t = tr["part_t"]
    value = tr["value"][part_t].astype(np.int64)
    rec_day = np.maximum(value + parts["lag"], tr["booking"][part_t])
    rec_ts = rec_day * DAY + parts["rec_sec"]
    av = np.flatnonzero(rec_ts < v.cutoff)
    a_inv = parts["inv"][av]
    a_cust = inv["cust"][a_inv]
    txn_null = parts["u"][av, U_ERP_TXN] < 0.03
    table = _table(
        contracts.PAYMENT_ALLOCATIONS,
        {
            "allocation_id": _ids("pa_", tr["part_key"][av] + 1, 10),
            "invoice_id": v.invoice(a_inv),
            "customer_id": v.cust(a_cust),
            "bank_txn_id": _str_array(_line_ids(lines, part_t[av]), txn_null),
            "payment_date": _date_array(value[av]),
            "recorded_at": _ts_array(rec_ts[av]),
            "currency": v.currency_of(a_cust),
            "amount": money_array(parts["amount"][av]),
        },
    )
    return table, {"inv": a_inv, "amount": parts["amount"][av], "ts": rec_ts[av]}


def _erp_tables(
    v: _Visible, inv: dict[str, np.ndarray], alloc: dict[str, np.ndarray]
) -> Iterator[tuple[str, pa.Table]]:
    n = v.n_inv
    inv_cust = inv["cust"]
    issue_ts = inv["issue"].astype(np.int64) * DAY + inv["issue_sec"]
    cancel_ts = inv["cancel_day"].astype(np.int64) * DAY + inv["cancel_sec"]
    cn_ts = inv["cn_day"].astype(np.int64) * DAY + inv["cn_sec"]
    cancel_vis = inv["cancelled"] & (cancel_ts < v.cutoff)
    cn_vis = inv["has_cn"] & (cn_ts < v.cutoff)
    # float64 sums of integer cents are exact below 2**53
    paid = np.round(np.bincount(alloc["inv"], weights=alloc["amount"].astype(np.float64), minlength=n))
    amount_open = inv["total"] - np.where(cn_vis, inv["cn_amt"], 0) - paid.astype(np.int64)
    amount_open = np.where(cancel_vis, 0, amount_open)
    updated = np.where(cancel_vis, np.maximum(issue_ts, cancel_ts), issue_ts)
    updated = np.where(cn_vis, np.maximum(updated, cn_ts), updated)
    if alloc["inv"].size:
        last = np.zeros(n, dtype=np.int64)
        o = np.lexsort((alloc["ts"], alloc["inv"]))
        ends = np.r_[np.flatnonzero(np.diff(alloc["inv"][o])), o.size - 1]
        last[alloc["inv"][o][ends]] = alloc["ts"][o][ends]
        updated = np.maximum(updated, last)
    has_rf = v.uses_rf[inv_cust]
    invoices = _table(
        contracts.INVOICES,
        {
            "invoice_id": v.invoice_ids,
            "number": v.numbers,
            "customer_id": v.cust(inv_cust),
            "issue_date": _date_array(inv["issue"]),
            "due_date": _date_array(inv["due"]),
            "currency": v.currency_of(inv_cust),
            "amount_total": money_array(inv["total"]),
            "amount_open": money_array(amount_open),
            "status": _pick(("posted", "cancelled"), cancel_vis.astype(np.int8)),
            "payment_reference": _str_array(v.rf, ~has_rf),
            # The simulated ERP does not record how invoices are sent (no effect is modelled).
            "delivery_method": pa.nulls(len(v.invoice_ids), pa.string()),
            **invoice_erp_attributes(v.cfg.seed, v.cust_arrays, np.arange(n), inv_cust),
            "updated_at": _ts_array(updated),
        },
    )

    yield contracts.INVOICES.table, invoices
    del invoices
    ci = np.flatnonzero(cn_vis)
    ci = ci[np.lexsort((ci, inv["cn_day"][ci]))]
    cn_year = _year(inv["cn_day"][ci])
    cn_seq = np.arange(ci.size) - np.searchsorted(cn_year, cn_year, side="left") + 1
    credit_notes = _table(
        contracts.CREDIT_NOTES,
        {
            "credit_note_id": _ids("cn_", ci + 1, 8),
            "number": _join(
                "CN-", pc.cast(pa.array(cn_year), pa.string()), "-", _pad(cn_seq, v.cfg.invoice_number_width)
            ),
            "customer_id": v.cust(inv_cust[ci]),
            "invoice_id": v.invoice(ci),
            "issue_date": _date_array(inv["cn_day"][ci]),
            "currency": v.currency_of(inv_cust[ci]),
            "amount_total": money_array(inv["cn_amt"][ci]),
            "status": _pick(("posted",), np.zeros(ci.size, np.int8)),
            "updated_at": _ts_array(cn_ts[ci]),
        },
    )

    yield contracts.CREDIT_NOTES.table, credit_notes
    del credit_notes
    open_ts = inv["d_open"].astype(np.int64) * DAY + inv["d_open_sec"]
    res_ts = inv["d_res"].astype(np.int64) * DAY + inv["d_res_sec"]
    di = np.flatnonzero(inv["disputed"] & (open_ts < v.cutoff))
    res_vis = res_ts[di] < v.cutoff
    disputes = _table(
        contracts.DISPUTES,
        {
            "dispute_id": _ids("dsp_", di + 1, 8),
            "invoice_id": v.invoice(di),
            "customer_id": v.cust(inv_cust[di]),
            "opened_at": _ts_array(open_ts[di]),
            "resolved_at": _ts_array(res_ts[di], ~res_vis),
            "status": _pick(("open", "resolved"), res_vis.astype(np.int8)),
            "reason": _pick(P.DISPUTE_REASONS, inv["reason"][di]),
            "updated_at": _ts_array(np.where(res_vis, res_ts[di], open_ts[di])),
        },
    )
    yield contracts.DISPUTES.table, disputes


RATING_LAG_DAYS = 30  # the credit department rates a new customer a month after onboarding
# Credit score 1 (best) .. 10 and risk class by latent class, before noise: the credit department's
# view is informative but imperfect (a deteriorating payer was rated when he still paid well).
_RATING_BASE = np.array([2.5, 3.5, 6.0, 4.0, 7.5])


def _unit_hash(seed: int, idx: np.ndarray, salt: int) -> np.ndarray:
    """Deterministic uniforms in [0, 1) per index (an attribute's own stream: other draws are unchanged)."""
    x = (np.asarray(idx, dtype=np.uint64) + np.uint64(salt) * np.uint64(0x9E3779B1)) ^ np.uint64(seed % (1 << 32))
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(16))) * np.uint64(0x45D9F3B)
        x = (x ^ (x >> np.uint64(16))) * np.uint64(0x45D9F3B)
        x = x ^ (x >> np.uint64(16))
    return (x % np.uint64(1 << 24)).astype(np.float64) / float(1 << 24)


def _customer_erp_attributes(seed: int, cust: dict[str, np.ndarray], cv: np.ndarray, cutoff: int) -> dict:
    """Optional ERP customer attributes (issue 22): rating and risk class dated, region, sales org, company code.

    The rating and the risk class are assessed ``RATING_LAG_DAYS`` after onboarding (null before);
    returns the columns and the instant each rating became known (for ``updated_at``).
    """
    noise = _unit_hash(seed, cv, 1) + _unit_hash(seed, cv, 2) - 1.0  # triangular, -1..1
    score = np.clip(np.rint(_RATING_BASE[cust["cls"][cv]] + 2.5 * noise), 1, 10).astype(np.int64)
    rated_day = cust["created_day"][cv].astype(np.int64) + RATING_LAG_DAYS
    rated_ts = rated_day * DAY + 9 * 3600
    unrated = rated_ts >= cutoff
    risk = np.select([score <= 3, score <= 6], [0, 1], 2).astype(np.int8)
    country = np.array(P.COUNTRY_CODES)[cust["country"][cv]]
    city = np.array(P.CITY_NAMES)[cust["city"][cv]]
    region = np.char.add(np.char.add(country, "-"), np.char.upper(np.array([c[:3] for c in city], dtype=str)))
    seg = np.array(["20", "30", "10"])[cust["segment"][cv]]  # enterprise / mid market / smb sales orgs
    cols = {
        "risk_class": pa.array(np.array(["low", "medium", "high"])[risk], pa.string(), mask=unrated),
        "credit_rating": pa.array(score.astype(str), pa.string(), mask=unrated),
        "credit_rating_date": _date_array(rated_day, unrated),
        "region": pa.array(region, pa.string()),
        "sales_org": pa.array(np.char.add(country, seg), pa.string()),
        "company_code": pa.array(np.char.add(country, "01"), pa.string()),
    }
    return {"columns": cols, "rated_ts": np.where(unrated, 0, rated_ts)}


def invoice_erp_attributes(seed: int, cust: dict[str, np.ndarray], idx: np.ndarray, inv_cust: np.ndarray) -> dict:
    """Optional ERP invoice attributes (issue 22): document type, payment-terms key, dunning block, org keys.

    One invoice in ten is a direct FI invoice (``DR``, services), the rest billing documents (``RV``);
    the payment-terms key spells the customer's terms (``NT30``); the simulated ERP sets no dunning
    blocks (disputes live in the CRM).
    """
    country = np.array(P.COUNTRY_CODES)[cust["country"][inv_cust]]
    seg = np.array(["20", "30", "10"])[cust["segment"][inv_cust]]
    doc = np.where(_unit_hash(seed, idx, 3) < 0.1, "DR", "RV")
    terms = np.char.add("NT", np.char.zfill(cust["terms"][inv_cust].astype(str), 2))
    return {
        "document_type": pa.array(doc, pa.string()),
        "payment_terms_code": pa.array(terms, pa.string()),
        "dunning_block": pa.nulls(len(idx), pa.string()),
        "sales_org": pa.array(np.char.add(country, seg), pa.string()),
        "company_code": pa.array(np.char.add(country, "01"), pa.string()),
    }


def _party_tables(
    v: _Visible, cust: dict[str, np.ndarray], cont: dict[str, np.ndarray]
) -> Iterator[tuple[str, pa.Table]]:
    cust_ts = cust["created_day"].astype(np.int64) * DAY + cust["created_sec"]
    cv = np.flatnonzero(cust_ts < v.cutoff)
    cl_ts = cust["cl_change_day"].astype(np.int64) * DAY + cust["cl_change_sec"]
    cl_vis = cl_ts[cv] < v.cutoff
    erp = _customer_erp_attributes(v.cfg.seed, cust, cv, v.cutoff)
    customers = _table(
        contracts.CUSTOMERS,
        {
            "customer_id": v.cust(cv),
            "name": pa.array(cust["name"][cv], pa.string()),
            "tax_id": pa.array(cust["tax_id"][cv], pa.string()),
            "country": _pick(P.COUNTRY_CODES, cust["country"][cv]),
            "city": _pick(P.CITY_NAMES, cust["city"][cv]),
            "timezone": _pick(P.CITY_TZ, cust["city"][cv]),
            "currency": v.currency_of(cv),
            "payment_terms_days": pa.array(cust["terms"][cv], pa.int32()),
            "credit_limit": money_array(np.where(cl_vis, cust["cl_new"][cv], cust["credit_limit"][cv])),
            "segment": _pick(P.SEGMENTS, cust["segment"][cv]),
            **erp["columns"],
            "updated_at": _ts_array(np.maximum(np.where(cl_vis, cl_ts[cv], cust_ts[cv]), erp["rated_ts"])),
        },
    )
    cls = cust["cls"][cv]
    truth_classes = pa.table(
        {
            "customer_id": v.cust(cv),
            "latent_class": _pick(P.LATENT_CLASSES, cls),
            **{f"sensitivity_{ch}": pa.array(cust["sens"][cv, j]) for j, ch in enumerate(P.CHANNELS)},
            "payment_run": _pick(("none", "weekly", "month_end"), cust["batch_mode"][cv]),
            "default_date": _date_array(cust["default_day"][cv], cls != 4),
            "deterioration_onset": _date_array(cust["det_onset"][cv], cls != 3),
        }
    )

    yield contracts.CUSTOMERS.table, customers
    yield TRUTH_PREFIX + "customer_classes", truth_classes
    del customers, truth_classes
    created_ts = cont["created_day"].astype(np.int64) * DAY + cont["created_sec"]
    kv = np.flatnonzero(created_ts < v.cutoff)
    change_ts = cont["change_day"].astype(np.int64) * DAY + cont["change_sec"]
    changed = change_ts[kv] < v.cutoff
    consent = cont["consent"][kv].copy()
    flip = np.zeros_like(consent)
    flip[np.arange(kv.size), cont["change_ch"][kv]] = changed
    consent ^= flip
    # a consent can only be given for a channel the contact can be reached on
    has_mobile = cont["has_phone"][kv] & cont["mobile"][kv]
    consent &= np.stack([cont["has_email"][kv], has_mobile, has_mobile, cont["has_phone"][kv]], axis=1)
    pref = cont["pref"][kv]
    contacts_t = _table(
        contracts.CONTACTS,
        {
            "contact_id": _ids("CT", kv + 1, 7),
            "customer_id": v.cust(cont["cust"][kv]),
            "full_name": pa.array(cont["full_name"][kv], pa.string()),
            "role": _pick(("debtor", "guarantor", "other"), cont["role"][kv]),
            "email": _str_array(pa.array(cont["email"][kv], pa.string()), ~cont["has_email"][kv]),
            "phone": _str_array(pa.array(cont["phone"][kv], pa.string()), ~cont["has_phone"][kv]),
            "language": _pick(("es", "en", "pt"), cont["lang"][kv]),
            "timezone": _pick(tuple(cont["zones"]), cont["tz_idx"][kv]),
            "consent_email": pa.array(consent[:, 0]),
            "consent_whatsapp": pa.array(consent[:, 1]),
            "consent_sms": pa.array(consent[:, 2]),
            "consent_call": pa.array(consent[:, 3]),
            "preferred_channel": _str_array(_pick(P.CHANNELS, np.maximum(pref, 0)), pref < 0),
            "preferred_hour": pa.array(cont["pref_hour"][kv], pa.int32()),
            "updated_at": _ts_array(np.where(changed, change_ts[kv], created_ts[kv])),
        },
    )
    yield contracts.CONTACTS.table, contacts_t


def _interaction_table(
    v: _Visible, inv: dict[str, np.ndarray], inter: dict[str, np.ndarray], cont: dict[str, np.ndarray]
) -> pa.Table:
    """Interactions happen in local business hours of the debtor contact; stored in UTC."""
    i_cust = inv["cust"][inter["inv"]]
    contact = cont["debtor_idx"][i_cust]
    ts = _local_to_utc(inter["day"], inter["local_sec"], cont["tz_idx"][contact], list(cont["zones"]))
    iv = np.flatnonzero(ts < v.cutoff)
    key = inter["inv"][iv] * 10 + inter["k"][iv]
    o = iv[np.lexsort((key, ts[iv]))]
    no_promise = inter["promised"][o] >= NEVER
    return _table(
        contracts.INTERACTIONS,
        {
            "interaction_id": _ids("int_", inter["inv"][o] * 10 + inter["k"][o] + 10, 10),
            "customer_id": v.cust(i_cust[o]),
            "contact_id": _ids("CT", contact[o] + 1, 7),
            "channel": _pick(INTERACTION_CHANNELS, inter["channel"][o]),
            "direction": _pick(("outbound", "inbound"), inter["inbound"][o].astype(np.int8)),
            "occurred_at": _ts_array(ts[o]),
            "outcome": _pick(OUTCOMES, inter["outcome"][o]),
            "promised_date": _date_array(np.where(no_promise, 0, inter["promised"][o]), no_promise),
            "promised_amount": money_array(inter["promised_amt"][o], no_promise),
        },
    )


# --------------------------------------------------------------------------------------------------
# remittance information and payer identity


PAYER_KINDS: tuple[str, ...] = ("customer", "customer_upper", "customer_truncated", "third_party", "unknown")


def _remittance(
    v: _Visible,
    vt: np.ndarray,
    tr: dict,
    parts: dict[str, np.ndarray],
    inv: dict[str, np.ndarray],
    cust: dict[str, np.ndarray],
) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """Remittance text, creditor reference and quality code of the visible customer transfers."""
    n = vt.size
    u = tr["u"][vt]
    f_inv = parts["inv"][tr["first_part"][vt]]
    single = tr["nparts"][vt] == 1
    has_rf = cust["uses_rf"][inv["cust"][f_inv]]
    structured = single & has_rf & cust["rf_payer"][inv["cust"][f_inv]] & (u[:, U_RF] < 0.85)
    q = u[:, U_QUALITY]
    quality = np.where(
        structured,
        Q_STRUCT,
        np.where(
            single,
            np.select([q < 0.50, q < 0.62, q < 0.72, q < 0.80], [Q_EXACT, Q_TYPO, Q_TRUNC, Q_REFORMAT], Q_MISSING),
            np.select([q < 0.75, q < 0.85], [Q_SEVERAL, Q_EXACT], Q_MISSING),
        ),
    ).astype(np.int8)
    detail = u[:, U_DETAIL]
    detail2 = u[:, U_DETAIL2]
    n_pref = len(P.REMITTANCE_PREFIXES)
    prefix_idx = (u[:, U_PREFIX] * n_pref).astype(np.int64) % n_pref
    width = v.number_width
    texts: list[tuple[np.ndarray, pa.Array]] = []

    def number(idx: np.ndarray) -> pa.Array:
        return v.numbers.take(pa.array(f_inv[idx]))

    def with_prefix(idx: np.ndarray, body: pa.Array) -> pa.Array:
        return _join(_pick(P.REMITTANCE_PREFIXES, prefix_idx[idx]), body)

    m = np.flatnonzero(quality == Q_EXACT)
    texts.append((m, with_prefix(m, number(m))))

    m = np.flatnonzero(quality == Q_TYPO)
    if m.size:  # swap two adjacent different digits, or change one digit, in the sequence part
        mat = _fixed_width_bytes(number(m), width)
        seq_len = width - 9  # "INV-YYYY-" then the sequence digits
        pos = 9 + (detail[m] * seq_len).astype(np.int64) % seq_len
        rows = np.arange(m.size)
        nxt = np.minimum(pos + 1, width - 1)
        here, there = mat[rows, pos].copy(), mat[rows, nxt].copy()
        swap = (detail2[m] < 0.5) & (pos < width - 1) & (here != there)
        bump = 1 + (detail2[m] * 1000).astype(np.int64) % 9
        mat[rows, pos] = np.where(swap, there, 48 + (here - 48 + bump) % 10)
        mat[rows, nxt] = np.where(swap, here, mat[rows, nxt])
        texts.append((m, with_prefix(m, _bytes_to_strings(mat))))

    m = np.flatnonzero(quality == Q_TRUNC)
    if m.size:  # a bank field cut the number: drop its last 2-4 characters
        cut = width - 2 - (detail[m] * 3).astype(np.int64) % 3
        texts.append((m, with_prefix(m, _bytes_to_strings(_fixed_width_bytes(number(m), width), cut))))

    m = np.flatnonzero(quality == Q_REFORMAT)
    if m.size:
        num = number(m)
        variants = (
            pc.replace_substring(num, "-", ""),  # INV2025000123
            pc.utf8_slice_codeunits(num, 4),  # 2025-000123
            pc.replace_substring(pc.replace_substring(num, "INV-", "FACT "), "-", "/"),  # FACT 2025/000123
            pc.replace_substring(num, "-", " "),  # INV 2025 000123
        )
        which = (detail[m] * len(variants)).astype(np.int64) % len(variants)
        texts.append((m, with_prefix(m, pc.choose(pa.array(which.astype(np.int8)), *variants))))

    m = np.flatnonzero(quality == Q_SEVERAL)
    if m.size:  # every invoice number of the transfer, in invoice order
        t_row = np.full(tr["n"], -1, dtype=np.int64)
        t_row[vt[m]] = np.arange(m.size)
        row_of_part = t_row[tr["part_t"]]
        pi = np.flatnonzero(row_of_part >= 0)
        pi = pi[np.lexsort((parts["inv"][pi], row_of_part[pi]))]
        offsets = np.searchsorted(row_of_part[pi], np.arange(m.size + 1), side="left").astype(np.int32)
        lists = pa.ListArray.from_arrays(pa.array(offsets), v.numbers.take(pa.array(parts["inv"][pi])))
        sep = _pick((", ", " ", " / "), np.where(detail[m] < 0.5, 0, np.where(detail[m] < 0.8, 1, 2)))
        n_mp = len(P.REMITTANCE_MULTI_PREFIXES)
        mp = _pick(P.REMITTANCE_MULTI_PREFIXES, (detail2[m] * n_mp).astype(np.int64) % n_mp)
        texts.append((m, _join(mp, pc.binary_join(lists, sep))))

    m = np.flatnonzero((quality == Q_MISSING) & (detail < 0.45))
    if m.size:  # generic text; the rest of the "missing" lines carry no text at all
        n_g = len(P.REMITTANCE_MISSING)
        texts.append((m, _pick(P.REMITTANCE_MISSING, (detail2[m] * n_g).astype(np.int64) % n_g)))

    m = np.flatnonzero(quality == Q_STRUCT)
    cref = _place(n, [(m, v.rf.take(pa.array(f_inv[m])))])
    m = m[detail[m] < 0.3]  # some structured payers also repeat the invoice number in the free text
    texts.append((m, with_prefix(m, number(m))))

    text = pc.utf8_slice_codeunits(_place(n, texts), 0, REMITTANCE_MAX_CHARS)
    return text, cref, quality


def _payer(vt: np.ndarray, tr: dict, cust: dict[str, np.ndarray]) -> tuple[pa.Array, pa.Array, np.ndarray]:
    """Counterparty name and account the bank reports for each visible customer transfer."""
    c = tr["cust"][vt]
    u = tr["u"][vt]
    r = u[:, U_PAYER]
    kind = np.select([r < 0.72, r < 0.82, r < 0.88, r < 0.94], [0, 1, 2, 3], 4).astype(np.int8)
    names = pa.array(cust["name"], pa.string())
    upper = pc.utf8_upper(pa.array(cust["name_base"], pa.string()))
    trunc = pc.utf8_slice_codeunits(pc.utf8_upper(names), 0, 20)
    n_third = len(P.THIRD_PARTY_PAYERS)
    pieces = []
    for k, source in ((0, names), (1, upper), (2, trunc)):
        m = np.flatnonzero(kind == k)
        pieces.append((m, source.take(pa.array(c[m]))))
    m = np.flatnonzero(kind == 3)
    pieces.append((m, _pick(P.THIRD_PARTY_PAYERS, (u[m, U_DETAIL2] * n_third).astype(np.int64) % n_third)))
    name = _place(vt.size, pieces)
    ri = u[:, U_PAYER_IBAN]
    m1 = np.flatnonzero((ri < 0.85) & (kind != 3))
    m2 = np.flatnonzero((ri >= 0.85) & (ri < 0.95) & (kind != 3))
    iban = _place(
        vt.size,
        [
            (m1, pa.array(cust["account"], pa.string()).take(pa.array(c[m1]))),
            (m2, pa.array(cust["account_alt"], pa.string()).take(pa.array(c[m2]))),
        ],
    )
    return name, iban, kind


# --------------------------------------------------------------------------------------------------
# deliberate data-quality defects (off by default)


def _inject_defects(name: str, table: pa.Table, rng: np.random.Generator, log: list[str]) -> pa.Table:
    """Return ``table`` with a few realistic extract defects; describe them in ``log``."""

    def replace(t: pa.Table, column: str, row: int, value: object) -> pa.Table:
        mask = np.zeros(t.num_rows, dtype=bool)
        mask[row] = True
        col = t.column(column).combine_chunks()
        new = pc.if_else(pa.array(mask), pa.scalar(value, col.type), col)
        return t.set_column(t.schema.get_field_index(column), t.schema.field(column), new)

    if table.num_rows < 3:
        return table
    rows = [int(r) for r in np.sort(rng.choice(table.num_rows, size=3, replace=False))]
    if name == contracts.INVOICES.table:
        key = table.column("invoice_id")
        amount = table.column("amount_total")[rows[2]].as_py()
        table = replace(table, "amount_total", rows[2], -amount)
        log.append(f"{name}: negative amount_total on invoice_id {key[rows[2]].as_py()}")
        table = pa.concat_tables([table, table.take(pa.array(rows[:2]))])
        log.append(f"{name}: duplicated rows for invoice_id {key.take(pa.array(rows[:2])).to_pylist()}")
    elif name == contracts.CONTACTS.table:
        key = table.column("contact_id")
        table = replace(table, "phone", rows[0], "044 55 1234")
        log.append(f"{name}: phone not in E.164 on contact_id {key[rows[0]].as_py()}")
        table = replace(table, "email", rows[1], "cobranza.cliente.sin.arroba")
        log.append(f"{name}: e-mail without '@' on contact_id {key[rows[1]].as_py()}")
    elif name == contracts.CUSTOMERS.table:
        table = replace(table, "currency", rows[0], "MEX")
        log.append(
            f"{name}: invalid ISO 4217 currency 'MEX' on customer_id {table.column('customer_id')[rows[0]].as_py()}"
        )
    elif name == contracts.STATEMENT_LINES.table:
        table = pa.concat_tables([table, table.slice(rows[0], 1)])
        log.append(f"{name}: duplicated line bank_txn_id {table.column('bank_txn_id')[rows[0]].as_py()}")
    return table
