"""Early warnings against the simulator's ground truth (issue 21): precision and recall per anomaly type.

Reads ``_truth/anomalies.parquet`` (what ``simulator.anomalies`` planted) and
``_truth/customer_classes.parquet`` (customers whose latent behaviour turns: ``defaulting`` stop
paying, ``deteriorating`` drift late: both, and the planted stops, count as behaviour changes) and
compares them with what the product found: the deterministic signals (``marts.mart_alert_signals``)
and the behaviour scorer's findings (``ml.alerts``). Lives apart from the product (it reads the
truth); the product never imports it.

Matching: a finding of a type is a true positive when its customer carries a label of that type
(``suspense``: when its bank line is a planted one). A ``stopped_paying`` finding counts for both
``stops_paying`` and ``behaviour_change`` (the issue's behaviour change includes "a customer who
suddenly stops paying everything"). Recall counts the labels whose evidence can exist by ``as_of``
(onset at least ``DETECTION_LAG_DAYS[type]`` before it; ``exposure`` only inside the signal's
recent window) and that a finding of the type names.

Not detectable, so left out of recall (a finding on them still counts as true):

- a label without the payments its detection needs (:data:`EVIDENCE_PAYMENTS`, counted in the
  simulator's own books): a payer change needs 3 payments before and 3 after, a stop 4 before;
- a ``deteriorating`` customer (a slow drift of 1.5-5 days a month) whose drift does not show in the
  data by ``as_of`` (:func:`with_drift_evidence`): from the simulator's books, the median lateness of
  its invoices due after the onset (settled by ``as_of``, or days past due so far if open) must be at
  least :data:`DRIFT_VISIBLE_DAYS` above the median of those due in the year before the onset, with
  at least :data:`DRIFT_MIN_INVOICES` invoices on each side. A drift that started four months ago at
  1.5 days a month has moved the customer six days, inside its own noise (payment runs, December,
  disputes): no statistic on the data can tell it yet. The stops among the behaviour labels follow
  the stop rule (4 payments before).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

#: Which anomaly type each product signal looks for (its first type; see :data:`ALSO_COUNTS_FOR`).
SIGNAL_TYPE: dict[str, str] = {
    "new_payer_account": "payer_change",
    "shared_payer_account": "payer_change",
    "lapping": "lapping",
    "duplicate_payment": "duplicate_payment",
    "payment_reversed": "reversal",
    "credit_note_burst": "credit_note_burst",
    "cancelled_after_payment": "credit_note_burst",
    "exposure_over_limit": "exposure",
    "suspense": "suspense",
    "stopped_paying": "stops_paying",
    "behaviour_change": "behaviour_change",
}

#: Signals whose findings also count for another type: a stop is a behaviour change too.
ALSO_COUNTS_FOR: dict[str, tuple[str, ...]] = {"stopped_paying": ("behaviour_change",)}
#: A slow drift is detectable once the data shows the customer this many days later (median) than
#: before its onset, with this many invoices on each side.
DRIFT_VISIBLE_DAYS = 10.0
DRIFT_MIN_INVOICES = 3
DRIFT_DETAIL = "latent class deteriorating"

#: Days after the onset before the evidence can be complete (payments must arrive from the new
#: account, silence must outlast the rhythm, lateness must show).
DETECTION_LAG_DAYS: dict[str, int] = {
    "payer_change": 150,
    "lapping": 120,
    "duplicate_payment": 0,
    "reversal": 0,
    "credit_note_burst": 0,
    "exposure": 0,
    "suspense": 5,
    "stops_paying": 150,
    "behaviour_change": 120,
}
#: Customer payments a planted anomaly needs before (history) and after (evidence) its onset to be
#: detectable at all: a customer with no payment history cannot "change" its payer or stop paying.
EVIDENCE_PAYMENTS: dict[str, tuple[int, int]] = {
    "payer_change": (3, 3),
    "lapping": (0, 2),
    "stops_paying": (4, 0),
}
#: A behaviour break is news for this long after its onset; older ones are the customer's habit now.
BEHAVIOUR_WINDOW_DAYS = 400
EXPOSURE_WINDOW_DAYS = 60


@dataclass(frozen=True)
class TypeScore:
    """Precision and recall of one anomaly type."""

    anomaly_type: str
    findings: int
    true_findings: int
    labels: int
    found_labels: int

    @property
    def precision(self) -> float | None:
        """Share of findings that point at a planted anomaly of the type."""
        return self.true_findings / self.findings if self.findings else None

    @property
    def recall(self) -> float | None:
        """Share of detectable planted anomalies that a finding names."""
        return self.found_labels / self.labels if self.labels else None

    def as_dict(self) -> dict[str, object]:
        """A JSON-ready row."""
        return {
            "anomaly_type": self.anomaly_type,
            "findings": self.findings,
            "true_findings": self.true_findings,
            "labels": self.labels,
            "found_labels": self.found_labels,
            "precision": None if self.precision is None else round(self.precision, 3),
            "recall": None if self.recall is None else round(self.recall, 3),
        }


def truth_labels(sim_dir: Path, as_of: date) -> pd.DataFrame:
    """Planted anomalies plus the latent behaviour turns, one row per (type, customer or bank line)."""
    planted = pd.read_parquet(Path(sim_dir) / "_truth" / "anomalies.parquet")
    classes = pd.read_parquet(Path(sim_dir) / "_truth" / "customer_classes.parquet")
    defaulting = classes[classes["default_date"].notna()]
    turned = classes[classes["deterioration_onset"].notna()]
    extra = [
        pd.DataFrame(
            {
                "anomaly_type": "stops_paying",
                "customer_id": defaulting["customer_id"],
                "onset_date": pd.to_datetime(defaulting["default_date"]).dt.date,
                "bank_txn_id": None,
                "detail": "latent class defaulting",
            }
        ),
        pd.DataFrame(
            {
                "anomaly_type": "behaviour_change",
                "customer_id": turned["customer_id"],
                "onset_date": pd.to_datetime(turned["deterioration_onset"]).dt.date,
                "bank_txn_id": None,
                "detail": "latent class deteriorating",
            }
        ),
    ]
    # a customer that stops paying has also broken from its own behaviour
    stopped = pd.concat([planted[planted["anomaly_type"] == "stops_paying"], extra[0]], ignore_index=True)
    extra.append(stopped.assign(anomaly_type="behaviour_change"))
    labels = pd.concat([planted, *extra], ignore_index=True)
    labels["onset_date"] = pd.to_datetime(labels["onset_date"]).dt.date
    return labels[labels["onset_date"] <= as_of]


def with_evidence(labels: pd.DataFrame, sim_dir: Path) -> pd.DataFrame:
    """Labels with the customer's true payment lines before and after the onset (n_before, n_after).

    Counted from the simulator's own books (``_truth/bank_lines`` and the bank extract), not from
    what the pipeline matched.
    """
    import pyarrow.parquet as pq

    lines = pq.read_table(
        Path(sim_dir) / "_truth" / "bank_lines.parquet", columns=["bank_txn_id", "customer_id", "kind"]
    )
    booked = pq.read_table(Path(sim_dir) / "bank" / "statement_lines.parquet", columns=["bank_txn_id", "booking_date"])
    pays = lines.to_pandas().merge(booked.to_pandas(), on="bank_txn_id")
    pays = pays[pays["kind"] == "customer_payment"]
    pays["booking_date"] = pd.to_datetime(pays["booking_date"]).dt.date
    merged = labels[["customer_id", "onset_date"]].merge(pays, on="customer_id", how="left")
    before = (
        (merged["booking_date"] < merged["onset_date"]).groupby([merged["customer_id"], merged["onset_date"]]).sum()
    )
    after = (
        (merged["booking_date"] >= merged["onset_date"]).groupby([merged["customer_id"], merged["onset_date"]]).sum()
    )
    key = pd.MultiIndex.from_frame(labels[["customer_id", "onset_date"]])
    return labels.assign(
        n_before=before.reindex(key).fillna(0).to_numpy().astype(int),
        n_after=after.reindex(key).fillna(0).to_numpy().astype(int),
    )


def with_drift_evidence(labels: pd.DataFrame, sim_dir: Path, as_of: date) -> pd.DataFrame:
    """Labels with ``drift_visible``: whether a ``deteriorating`` customer's drift shows in the data by ``as_of``.

    From the simulator's books (``erp/invoices``, ``_truth/bank_line_invoices`` and the bank extract's
    value dates): each posted invoice due at least 15 days before ``as_of`` is late by its last
    payment's value date minus its due date when paid by then, else by the days past due so far (a
    lower bound, what the data shows). Visible when the median of the invoices due from the onset on
    is :data:`DRIFT_VISIBLE_DAYS` above the median of those due in the 365 days before the onset and
    settled, :data:`DRIFT_MIN_INVOICES` or more on each side. Other labels get True.
    """
    sim_dir = Path(sim_dir)
    drift = labels["detail"].eq(DRIFT_DETAIL)
    out = labels.assign(drift_visible=True)
    if not drift.any():
        return out
    links = pd.read_parquet(sim_dir / "_truth" / "bank_line_invoices.parquet", columns=["bank_txn_id", "invoice_id"])
    lines = pd.read_parquet(sim_dir / "bank" / "statement_lines.parquet", columns=["bank_txn_id", "value_date"])
    paid = links.merge(lines, on="bank_txn_id").groupby("invoice_id")["value_date"].max()
    inv = pd.read_parquet(
        sim_dir / "erp" / "invoices.parquet", columns=["invoice_id", "customer_id", "due_date", "status"]
    )
    inv = inv[(inv["status"] == "posted") & inv["customer_id"].isin(labels.loc[drift, "customer_id"])]
    due = pd.to_datetime(inv["due_date"])
    inv = inv[due <= pd.Timestamp(as_of - timedelta(days=15))].assign(due=due)
    paid_on = pd.to_datetime(inv["invoice_id"].map(paid))
    settled = paid_on.notna() & (paid_on <= pd.Timestamp(as_of))
    inv = inv.assign(
        settled=settled,
        late=(paid_on.where(settled, pd.Timestamp(as_of)) - inv["due"]).dt.days.astype(float),
    )
    onset = labels.loc[drift, ["customer_id", "onset_date"]].assign(onset=lambda f: pd.to_datetime(f["onset_date"]))
    g = inv.merge(onset[["customer_id", "onset"]], on="customer_id")
    before = g[(g["due"] < g["onset"]) & (g["due"] >= g["onset"] - pd.Timedelta(days=365)) & g["settled"]]
    after = g[g["due"] >= g["onset"]]
    b = before.groupby("customer_id")["late"].agg(["median", "count"])
    a = after.groupby("customer_id")["late"].agg(["median", "count"])
    both = b.join(a, how="inner", lsuffix="_before", rsuffix="_after")
    ok = (
        (both["count_before"] >= DRIFT_MIN_INVOICES)
        & (both["count_after"] >= DRIFT_MIN_INVOICES)
        & (both["median_after"] - both["median_before"] >= DRIFT_VISIBLE_DAYS)
    )
    visible = set(both.index[ok])
    out.loc[drift, "drift_visible"] = labels.loc[drift, "customer_id"].isin(visible).to_numpy()
    return out


def score(findings: pd.DataFrame, labels: pd.DataFrame, as_of: date) -> list[TypeScore]:
    """Precision and recall per anomaly type.

    Args:
        findings: signal, customer_id, evidence_key, first_seen_date (signals and behaviour findings).
        labels: :func:`truth_labels`, optionally :func:`with_evidence` (then labels without the
            payments their detection needs are left out of recall).
        as_of: The run date.
    """
    f = findings.assign(anomaly_type=findings["signal"].map(SIGNAL_TYPE))
    also = [
        findings[findings["signal"] == sig].assign(anomaly_type=t) for sig, ts in ALSO_COUNTS_FOR.items() for t in ts
    ]
    f = pd.concat([f, *also], ignore_index=True)
    f["first_seen_date"] = pd.to_datetime(f["first_seen_date"]).dt.date
    out = []
    for t in sorted(set(SIGNAL_TYPE.values())):
        ft = f[f["anomaly_type"] == t]
        lt = labels[labels["anomaly_type"] == t]
        if t == "exposure":
            since = as_of - timedelta(days=EXPOSURE_WINDOW_DAYS)
            lt = lt[lt["onset_date"] > since]
            ft = ft[ft["first_seen_date"] > since]
        any_onset = lt
        if t == "behaviour_change":  # still drifting after a year: a finding on it is right, but old news for recall
            lt = lt[lt["onset_date"] > as_of - timedelta(days=BEHAVIOUR_WINDOW_DAYS)]
        detectable = lt[lt["onset_date"] <= as_of - timedelta(days=DETECTION_LAG_DAYS[t])]
        if t in EVIDENCE_PAYMENTS and "n_before" in detectable:
            need_before, need_after = EVIDENCE_PAYMENTS[t]
            detectable = detectable[(detectable["n_before"] >= need_before) & (detectable["n_after"] >= need_after)]
        if t == "behaviour_change":
            drift = detectable["detail"].eq(DRIFT_DETAIL)
            keep = ~drift
            if "drift_visible" in detectable:
                keep |= drift & detectable["drift_visible"].astype(bool)
            if "n_before" in detectable:  # a stop needs its history, as stops_paying does
                keep &= drift | (detectable["n_before"] >= EVIDENCE_PAYMENTS["stops_paying"][0])
            detectable = detectable[keep]
        if t == "suspense":
            hit = ft["evidence_key"].isin(lt["bank_txn_id"])
            found = detectable["bank_txn_id"].isin(ft["evidence_key"])
        else:
            hit = ft["customer_id"].isin(any_onset["customer_id"])
            found = detectable["customer_id"].isin(ft["customer_id"])
        # one finding per customer (or bank line): several rows on one anomaly are one finding
        key = "evidence_key" if t == "suspense" else "customer_id"
        per = pd.DataFrame({"key": ft[key], "hit": hit}).groupby("key")["hit"].max()
        out.append(
            TypeScore(
                anomaly_type=t,
                findings=int(len(per)),
                true_findings=int(per.sum()),
                labels=int(len(detectable)),
                found_labels=int(found.sum()),
            )
        )
    return out
