"""Injected anomalies and fraud, with their ground truth (DESIGN.md §13, issue 21).

The simulated world is honest by default. With an :class:`AnomalyConfig` the stream of tables that
``simulator.world.iter_world`` yields passes through :func:`inject`, which plants the anomalies the
early-warning signals must find, and yields one more ground-truth table, ``_truth.anomalies``
(written to ``_truth/anomalies.parquet``: evaluation code only, never the pipeline):

| anomaly_type | what the simulator does from the onset day |
|---|---|
| ``stops_paying`` | the customer's payments stop: its bank lines and ERP allocations vanish, invoices stay open |
| ``payer_change`` | its payments arrive from a new account (same name), or from one account shared |
|   | by a ring of 3 unrelated customers under an intermediary's name |
| ``lapping`` | its payments arrive from the account and name another customer paid its own invoices from |
| ``duplicate_payment`` | one of its bank credits is booked a second time (new bank id) 1-3 days later |
| ``reversal`` | one of its bank credits is returned (a DBIT reversal line 2-5 days later) |
| ``credit_note_burst`` | 3-4 credit notes on its invoices on one day (on open ones they reduce the open amount) |
| ``exposure`` | a new invoice of 1.3-2x its credit limit, never paid |
| ``suspense`` | a large credit from an unknown payer with no usable remittance lands on the company account |

Selection and onsets are keyed hashes of ``(seed, type, customer_id)``, independent of ``as_of``,
so the world seen at ``D`` stays a prefix of the world seen later (an injected line never moves).
Labels are written for every selected customer whose onset is visible by ``as_of``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from connectors import contracts

TRUTH_NAME = "_truth.anomalies"
ANOMALY_TYPES: tuple[str, ...] = (
    "stops_paying",
    "payer_change",
    "lapping",
    "duplicate_payment",
    "reversal",
    "credit_note_burst",
    "exposure",
    "suspense",
)
INTERMEDIARIES: tuple[str, ...] = (
    "GLOBAL PAYMENTS SERVICES LTD",
    "SERVICIOS FINANCIEROS DEL SUR",
    "TRADE SETTLEMENT PARTNERS",
    "PAGOS INTERNACIONALES EXPRESS",
)


@dataclass(frozen=True)
class AnomalyConfig:
    """How many anomalies to plant.

    Attributes:
        rate: Share of customers selected for each anomaly type (``suspense``: lines per customer).
        onset_from_days: Earliest onset, days after the world's start (history before it is clean).
        onset_to_days: Latest onset, days after the world's start.
        types: The anomaly types planted (default: all of :data:`ANOMALY_TYPES`).
        credit_control: Give the world's ERP a credit control (``WorldConfig.credit_control``):
            limits cover four median orders and an order over the limit is released up to 90% of
            it, so the only invoices over a limit are the planted ``exposure`` ones (without it, one
            invoice in seven is over its customer's limit and the labels cannot be measured).
    """

    rate: float = 0.01
    onset_from_days: int = 240
    onset_to_days: int = 760
    types: tuple[str, ...] = ANOMALY_TYPES
    credit_control: bool = True


def _uniform(seed: int, purpose: str, keys: np.ndarray) -> np.ndarray:
    """A stable uniform in [0, 1) per key (a keyed hash, not a generator: order does not matter)."""
    hash_key = f"{seed:08d}{purpose}"[:16].ljust(16, "0")
    h = pd.util.hash_array(np.asarray(keys, dtype=object), hash_key=hash_key, categorize=False)
    return (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def _account(country: str, key: str, seed: int) -> str:
    """A bank account of ``country``'s format (IBAN, CLABE, national number) derived from ``key``."""
    from simulator import profiles as P
    from simulator.world import _bank_accounts

    u = _uniform(seed, "acct", np.array([key], dtype=object))[0]
    rng = np.random.default_rng(int(u * (1 << 62)))
    return str(_bank_accounts(rng, np.array([P.COUNTRY_CODES.index(country)]))[0])


@dataclass
class _Plan:
    """Selected customers and onsets, drawn once the customers table is seen."""

    customers: pd.DataFrame  # customer_id, currency, credit_limit, payment_terms_days, updated_at
    picks: dict[str, pd.DataFrame]  # type -> customer_id, onset (date)


class _Injector:
    def __init__(self, cfg, anomalies: AnomalyConfig) -> None:  # noqa: ANN001 - simulator.world.WorldConfig
        self.cfg = cfg
        self.an = anomalies
        self.seed = int(cfg.seed)
        self.as_of: date = cfg.as_of
        self.labels: list[dict] = []
        self.plan: _Plan | None = None
        self.removed_txn: set[str] = set()
        self.removed_alloc: pd.DataFrame = pd.DataFrame(columns=["invoice_id", "amount"])
        self.cn_rows: list[dict] = []

    # ---------------------------------------------------------------- selection
    def _select(self, customers: pa.Table) -> None:
        df = customers.select(["customer_id", "currency", "credit_limit", "payment_terms_days", "country"]).to_pandas()
        ids = df["customer_id"].to_numpy(dtype=object)
        span = max(1, self.an.onset_to_days - self.an.onset_from_days)
        picks: dict[str, pd.DataFrame] = {}
        taken = np.zeros(len(df), dtype=bool)  # one anomaly per customer keeps the labels unambiguous
        for t in self.an.types:
            if t == "suspense":
                continue
            u = _uniform(self.seed, f"pick{t}", ids)
            rate = self.an.rate * (3 if t == "payer_change" else 1)
            sel = (u < rate) & ~taken
            taken |= sel
            onset_u = _uniform(self.seed, f"onset{t}", ids[sel])
            onset = [self.cfg.start_date + timedelta(days=self.an.onset_from_days + int(x * span)) for x in onset_u]
            picks[t] = pd.DataFrame({"customer_id": ids[sel], "onset": onset, "country": df["country"][sel].to_numpy()})
        self.plan = _Plan(customers=df, picks=picks)

    def _label(self, t: str, customer_id: str | None, onset: date, detail: str, bank_txn_id: str | None = None) -> None:
        if onset <= self.as_of:
            self.labels.append(
                {
                    "anomaly_type": t,
                    "customer_id": customer_id,
                    "onset_date": onset,
                    "bank_txn_id": bank_txn_id,
                    "detail": detail,
                }
            )

    # ---------------------------------------------------------------- bank lines
    def _bank(self, lines: pa.Table, truth: pa.Table) -> tuple[pa.Table, pa.Table]:
        assert self.plan is not None
        df = lines.to_pandas()
        tr = truth.to_pandas()
        df["_cust"] = tr["customer_id"].to_numpy()
        is_pay = (tr["kind"] == "customer_payment").to_numpy()
        value = pd.to_datetime(df["value_date"]).dt.date
        drop = np.zeros(len(df), dtype=bool)
        picks = self.plan.picks
        onset_of = {t: dict(zip(p["customer_id"], p["onset"], strict=True)) for t, p in picks.items()}

        def rows_after(t: str) -> np.ndarray:
            on = df["_cust"].map(onset_of.get(t, {}))
            return is_pay & on.notna().to_numpy() & (value >= on.fillna(date.max)).to_numpy()

        if "stops_paying" in picks:
            m = rows_after("stops_paying")
            drop |= m
            self.removed_txn = set(df.loc[m, "bank_txn_id"])
            for cid, on in onset_of["stops_paying"].items():
                self._label("stops_paying", cid, on, "no payment from the onset on")
        if "payer_change" in picks:
            p = picks["payer_change"].reset_index(drop=True)
            ring = _uniform(self.seed, "ring", p["customer_id"].to_numpy(dtype=object)) < 0.4
            m = rows_after("payer_change") & df["counterparty_iban"].notna().to_numpy()
            new_iban = {
                cid: _account(str(country), f"new:{cid}", self.seed)
                for cid, country in zip(p["customer_id"], p["country"], strict=True)
            }
            # rings of three customers of one country share one intermediary's account
            ring_rows = p[ring].sort_values(["country", "customer_id"])
            ring_iban: dict[str, tuple[str, str]] = {}
            for _country, g in ring_rows.groupby("country"):
                ids = list(g["customer_id"])
                for k in range(0, len(ids) - 2, 3):
                    key = ids[k]
                    acct = _account(str(_country), f"ring:{key}", self.seed)
                    name = INTERMEDIARIES[int(_uniform(self.seed, "iname", np.array([key]))[0] * len(INTERMEDIARIES))]
                    for cid in ids[k : k + 3]:
                        ring_iban[cid] = (acct, name)
            for cid, on in onset_of["payer_change"].items():
                if cid in ring_iban:
                    self._label("payer_change", cid, on, f"shared account {ring_iban[cid][0]}")
                else:
                    self._label("payer_change", cid, on, f"new account {new_iban[cid]}")
            cust = df.loc[m, "_cust"]
            df.loc[m, "counterparty_iban"] = [ring_iban[c][0] if c in ring_iban else new_iban[c] for c in cust]
            in_ring = m & df["_cust"].isin(ring_iban).to_numpy()
            df.loc[in_ring, "counterparty_name"] = [ring_iban[c][1] for c in df.loc[in_ring, "_cust"]]
        if "lapping" in picks:
            # the account and name another customer (same company account) paid its own invoices from
            known = df[
                is_pay
                & df["counterparty_iban"].notna().to_numpy()
                & ~df["_cust"].isin(picks["lapping"]["customer_id"]).to_numpy()
            ]
            known = known.assign(_acc=known["account_iban"], _value=value[known.index])
            known = known.sort_values(["_value", "bank_txn_id"])
            # a donor is established by its sixth payment from the account: lapping starts after it
            nth = known.groupby(["_acc", "_cust", "counterparty_iban"]).cumcount()
            donors = known[nth == 5].rename(columns={"counterparty_iban": "iban", "counterparty_name": "name"})
            donors = donors[["_acc", "_cust", "iban", "name", "_value"]].reset_index(drop=True)
            first_acc = df[is_pay].groupby("_cust")["account_iban"].first()
            m_all = rows_after("lapping")
            for cid, on in onset_of["lapping"].items():
                acc = first_acc.get(cid)
                pool = donors[(donors["_acc"] == acc) & (donors["_value"] < on)]
                if pool.empty:
                    continue
                d = pool.iloc[int(_uniform(self.seed, "donor", np.array([cid]))[0] * len(pool))]
                m = m_all & (df["_cust"] == cid).to_numpy()
                df.loc[m, "counterparty_iban"] = d["iban"]
                df.loc[m, "counterparty_name"] = d["name"]
                self._label("lapping", cid, on, f"paid from the account of {d['_cust']}")
        extra: list[dict] = []
        extra_truth: list[dict] = []
        for t in ("duplicate_payment", "reversal"):
            if t not in picks:
                continue
            m = rows_after(t) & df["amount"].notna().to_numpy()
            first = df[m].sort_values(["booking_date", "bank_txn_id"]).drop_duplicates("_cust")
            for _, r in first.iterrows():
                u = _uniform(self.seed, f"lag{t}", np.array([r["bank_txn_id"]]))[0]
                if t == "duplicate_payment":
                    lag = 1 + int(u * 3)
                    row = {k: r[k] for k in lines.column_names}
                    row.update(bank_txn_id=f"{r['bank_txn_id']}D", booking_date=r["booking_date"] + timedelta(days=lag))
                    row["value_date"] = r["value_date"] + timedelta(days=lag)
                else:
                    lag = 2 + int(u * 4)
                    row = {k: r[k] for k in lines.column_names}
                    row.update(
                        bank_txn_id=f"{r['bank_txn_id']}R",
                        booking_date=r["booking_date"] + timedelta(days=lag),
                        value_date=r["booking_date"] + timedelta(days=lag),
                        credit_debit="DBIT",
                        is_reversal=True,
                        return_reason="AC04",
                        reversal_of=r["bank_txn_id"],
                    )
                if row["booking_date"] > self.as_of:
                    continue
                extra.append(row)
                extra_truth.append(
                    {"bank_txn_id": row["bank_txn_id"], "customer_id": r["_cust"], "kind": "customer_payment"}
                )
                self._label(t, r["_cust"], row["booking_date"], f"of {r['bank_txn_id']}", row["bank_txn_id"])
        if "suspense" in self.an.types:
            # large credits from unknown payers, no remittance: about rate x customers of them
            pays = df[is_pay & df["amount"].notna().to_numpy()]
            n_lines = int(round(self.an.rate * len(self.plan.customers)))
            keys = np.array([f"susp:{i}" for i in range(n_lines)], dtype=object)
            u_day = _uniform(self.seed, "sday", keys)
            u_row = _uniform(self.seed, "srow", keys)
            span = max(1, self.an.onset_to_days - self.an.onset_from_days)
            country_of = dict(zip(self.plan.customers["customer_id"], self.plan.customers["country"], strict=True))
            big = pays.sort_values("amount", ascending=False).head(max(1, len(pays) // 20))
            for i in range(n_lines):
                day = self.cfg.start_date + timedelta(days=self.an.onset_from_days + int(u_day[i] * span))
                if day > self.as_of or big.empty:
                    continue
                r = big.iloc[int(u_row[i] * len(big))]
                row = {k: r[k] for k in lines.column_names}
                row.update(
                    bank_txn_id=f"BT{day:%Y%m%d}-9{i:05d}",
                    booking_date=day,
                    value_date=day,
                    counterparty_name=INTERMEDIARIES[i % len(INTERMEDIARIES)].title(),
                    counterparty_iban=_account(country_of.get(r["_cust"], "ES"), keys[i], self.seed),
                    remittance_text="TRANSFERENCIA",
                    creditor_reference=None,
                )
                extra.append(row)
                extra_truth.append({"bank_txn_id": row["bank_txn_id"], "customer_id": None, "kind": "customer_payment"})
                self._label("suspense", None, day, f"unknown payer {row['counterparty_iban']}", row["bank_txn_id"])
        keep = ~drop
        out = df.loc[keep, lines.column_names]
        truth_out = tr.loc[keep]
        if extra:
            out = pd.concat([out, pd.DataFrame(extra)[lines.column_names]], ignore_index=True)
            add = pd.DataFrame(extra_truth)
            for col in tr.columns:
                if col not in add:
                    add[col] = tr[col].iloc[0:0].reindex(range(len(add))).to_numpy() if len(tr) else None
            add["n_invoices"] = 0
            add["overpaid_amount"] = [row["amount"] for row in extra]
            truth_out = pd.concat([truth_out, add[tr.columns]], ignore_index=True)
        out = out.sort_values(["booking_date", "bank_txn_id"], kind="stable")
        truth_out = truth_out.set_index("bank_txn_id").loc[out["bank_txn_id"]].reset_index()
        return (
            pa.Table.from_pandas(out, schema=lines.schema, preserve_index=False),
            pa.Table.from_pandas(truth_out[tr.columns], schema=truth.schema, preserve_index=False),
        )

    # ---------------------------------------------------------------- ERP
    def _allocations(self, table: pa.Table) -> pa.Table:
        if "stops_paying" not in (self.plan.picks if self.plan else {}):
            return table
        onset = dict(
            zip(self.plan.picks["stops_paying"]["customer_id"], self.plan.picks["stops_paying"]["onset"], strict=True)
        )
        df = table.select(["invoice_id", "customer_id", "payment_date", "amount", "bank_txn_id"]).to_pandas()
        on = df["customer_id"].map(onset)
        m = (
            df["bank_txn_id"].isin(self.removed_txn)
            | (on.notna() & (pd.to_datetime(df["payment_date"]).dt.date >= on.fillna(date.max)))
        ).to_numpy()
        self.removed_alloc = df.loc[m, ["invoice_id", "amount"]]
        return table.filter(pa.array(~m))

    def _invoices(self, table: pa.Table) -> pa.Table:
        assert self.plan is not None
        df = table.to_pandas()
        if len(self.removed_alloc):
            back = self.removed_alloc.groupby("invoice_id")["amount"].sum()
            add = df["invoice_id"].map(back)
            m = add.notna()
            df.loc[m, "amount_open"] = [o + a for o, a in zip(df.loc[m, "amount_open"], add[m], strict=True)]
        picks = self.plan.picks
        if "credit_note_burst" in picks:
            posted = df[df["status"] == "posted"]
            by_cust = {c: g for c, g in posted.groupby("customer_id")}
            for cid, on in zip(
                picks["credit_note_burst"]["customer_id"], picks["credit_note_burst"]["onset"], strict=True
            ):
                g = by_cust.get(cid)
                if g is None or on > self.as_of:
                    continue
                g = g[pd.to_datetime(g["issue_date"]).dt.date < on].sort_values("issue_date").tail(4)
                if len(g) < 3:
                    continue
                ts = pd.Timestamp(on) + pd.Timedelta(hours=15)
                for k, (idx, r) in enumerate(g.iterrows()):
                    amt = (r["amount_total"] / 10).quantize(r["amount_total"])
                    self.cn_rows.append(
                        {
                            "credit_note_id": f"cnx_{cid}_{k}",
                            "number": f"CN-X-{on:%Y%m%d}-{cid[-6:]}-{k}",
                            "customer_id": cid,
                            "invoice_id": r["invoice_id"],
                            "issue_date": on,
                            "currency": r["currency"],
                            "amount_total": amt,
                            "status": "posted",
                            "updated_at": ts,
                        }
                    )
                    if r["amount_open"] > 0:
                        df.loc[idx, "amount_open"] = max(r["amount_open"] - amt, Decimal(0))
                        df.loc[idx, "updated_at"] = max(pd.Timestamp(r["updated_at"]), ts)
                self._label("credit_note_burst", cid, on, f"{len(g)} credit notes on one day")
        if "exposure" in picks:
            cust = self.plan.customers.set_index("customer_id")
            rows = []
            for k, (cid, on) in enumerate(
                zip(picks["exposure"]["customer_id"], picks["exposure"]["onset"], strict=True)
            ):
                if on > self.as_of or cid not in cust.index:
                    continue
                c = cust.loc[cid]
                u = _uniform(self.seed, "xamt", np.array([cid]))[0]
                total = (c["credit_limit"] * Decimal(str(round(1.3 + 0.7 * u, 2)))).quantize(Decimal("0.01"))
                rows.append(
                    {
                        "invoice_id": f"inx_{k + 1:07d}",
                        "number": f"INV-X{on:%Y}-{k + 1:06d}",
                        "customer_id": cid,
                        "issue_date": on,
                        "due_date": on + timedelta(days=int(c["payment_terms_days"])),
                        "currency": c["currency"],
                        "amount_total": total,
                        "amount_open": total,
                        "status": "posted",
                        "payment_reference": None,
                        "delivery_method": None,
                        "updated_at": pd.Timestamp(on) + pd.Timedelta(hours=16),
                    }
                )
                self._label("exposure", cid, on, f"invoice {rows[-1]['number']} of {total} (limit {c['credit_limit']})")
            if rows:
                df = pd.concat([df, pd.DataFrame(rows).reindex(columns=df.columns)], ignore_index=True)
        return pa.Table.from_pandas(df, schema=table.schema, preserve_index=False)

    def _credit_notes(self, table: pa.Table) -> pa.Table:
        if not self.cn_rows:
            return table
        add = pa.Table.from_pandas(
            pd.DataFrame(self.cn_rows)[table.column_names], schema=table.schema, preserve_index=False
        )
        return pa.concat_tables([table, add])

    def truth(self) -> pa.Table:
        schema = pa.schema(
            [
                ("anomaly_type", pa.string()),
                ("customer_id", pa.string()),
                ("onset_date", pa.date32()),
                ("bank_txn_id", pa.string()),
                ("detail", pa.string()),
            ]
        )
        if not self.labels:
            return schema.empty_table()
        return pa.Table.from_pylist(self.labels, schema=schema)


def inject(
    items: Iterator[tuple[str, pa.Table]],
    cfg,  # noqa: ANN001 - simulator.world.WorldConfig (imported lazily by the caller)
    anomalies: AnomalyConfig,
) -> Iterator[tuple[str, pa.Table]]:
    """Pass ``iter_world``'s tables through, planting the anomalies; yield ``_truth.anomalies`` last.

    The statement lines are held until their ground truth (the next table) arrives, since the
    customer of a line is only known there; every other table passes one at a time.

    Args:
        items: ``(name, table)`` pairs as ``simulator.world.iter_world`` yields them.
        cfg: The world's configuration (seed, start date, as_of).
        anomalies: What to plant.

    Yields:
        The same tables, altered, and ``_truth.anomalies``.
    """
    inj = _Injector(cfg, anomalies)
    held: pa.Table | None = None
    for name, table in items:
        if name == contracts.CUSTOMERS.table:
            inj._select(table)
        elif name == contracts.STATEMENT_LINES.table:
            held = table
            continue
        elif name == "_truth.bank_lines" and held is not None:
            lines, truth = inj._bank(held, table)
            held = None
            yield contracts.STATEMENT_LINES.table, lines
            yield name, truth
            continue
        elif name == "_truth.bank_line_invoices" and inj.removed_txn:
            table = table.filter(pc.invert(pc.is_in(table["bank_txn_id"], pa.array(sorted(inj.removed_txn)))))
        elif name == contracts.PAYMENT_ALLOCATIONS.table:
            table = inj._allocations(table)
        elif name == contracts.INVOICES.table:
            table = inj._invoices(table)
        elif name == contracts.CREDIT_NOTES.table:
            table = inj._credit_notes(table)
        yield name, table
    if held is not None:
        yield contracts.STATEMENT_LINES.table, held
    yield TRUTH_NAME, inj.truth()
