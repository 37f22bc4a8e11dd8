"""Early warnings against the simulator's ground truth (issue 21): precision and recall per anomaly type.

Reads ``_truth/anomalies.parquet`` (what ``simulator.anomalies`` planted) and
``_truth/customer_classes.parquet`` (customers whose latent behaviour turns: ``defaulting`` stop
paying, ``deteriorating`` drift late: both, and the planted stops, count as behaviour changes) and
compares them with what the product found: the deterministic signals (``marts.mart_alert_signals``)
and the behaviour scorer's findings (``ml.alerts``). Lives apart from the product (it reads the
truth); the product never imports it.

Matching: a finding of a type is a true positive when its customer carries a label of that type
(``suspense``: when its bank line is a planted one). Recall counts the labels whose evidence can
exist by ``as_of`` (onset at least ``DETECTION_LAG_DAYS[type]`` before it; ``exposure`` only inside
the signal's recent window) and that a finding of the type names.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

#: Which anomaly type each product signal looks for.
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


def score(findings: pd.DataFrame, labels: pd.DataFrame, as_of: date) -> list[TypeScore]:
    """Precision and recall per anomaly type.

    Args:
        findings: signal, customer_id, evidence_key, first_seen_date (signals and behaviour findings).
        labels: :func:`truth_labels`, optionally :func:`with_evidence` (then labels without the
            payments their detection needs are left out of recall).
        as_of: The run date.
    """
    f = findings.assign(anomaly_type=findings["signal"].map(SIGNAL_TYPE))
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
