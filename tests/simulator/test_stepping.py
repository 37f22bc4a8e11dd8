"""Tests of the day-stepping market (simulator.stepping) on small worlds."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from connectors import contracts
from connectors.sources.files.config import simulator_mapping
from connectors.sources.files.reader import load_mapping_files
from simulator import simulate
from simulator.stepping import CHANNELS, Market, keyed_uniform, open_market

AS_OF = date(2025, 12, 15)
N = 400
SEED = 7
UTC_HOUR = 17  # 09:00-19:00 local on weekdays in every simulated zone (Madrid to Los Angeles)


def _truth(m: Market) -> pd.DataFrame:
    t = m.truth()
    sens = t[[f"sensitivity_{c}" for c in CHANNELS]].to_numpy()
    return t.assign(best=np.array(CHANNELS)[sens.argmax(axis=1)])


def _contacts(customers: pd.DataFrame, day: date, channel: str | None = None, hour: int = UTC_HOUR) -> pd.DataFrame:
    at = datetime.combine(day, datetime.min.time()) + timedelta(hours=hour)
    return pd.DataFrame(
        {
            "customer_id": customers["customer_id"].to_numpy(),
            "channel": channel or customers["best"].to_numpy(),
            "scheduled_at": at,
            "invoice_ids": [[] for _ in range(len(customers))],
        }
    )


def _run(m: Market, policy, days: int) -> list:  # noqa: ANN001 - callable(day) -> contacts or None
    out = []
    for _ in range(days):
        day = m.today + timedelta(days=1)
        out.append(m.advance(policy(day)))
    return out


def _allocs(results: list, customers: set[str] | None = None) -> pd.DataFrame:
    a = pd.concat([r.payment_allocations for r in results], ignore_index=True)
    if customers is not None:
        a = a[a["customer_id"].isin(customers)]
    cols = ["allocation_id", "invoice_id", "customer_id", "payment_date", "recorded_at", "amount"]
    return a[cols].sort_values("allocation_id").reset_index(drop=True)


@pytest.fixture(scope="module")
def truth() -> pd.DataFrame:
    return _truth(open_market("S", seed=SEED, as_of=AS_OF, n_customers=N))


def test_open_market_writes_the_same_bytes_as_simulate(tmp_path: Path) -> None:
    m = open_market("S", seed=SEED, as_of=AS_OF, n_customers=N)
    a = m.write_sources(tmp_path / "a")
    b = simulate(tmp_path / "b", profile="S", seed=SEED, as_of=AS_OF, n_customers=N)
    # the bulk extracts and the ground truth (daily bank statement files are written by other code)
    rels = sorted(p.relative_to(b.out_dir) for p in [*b.files.values(), *b.truth_files.values()])
    assert len(rels) == 11
    for rel in rels:
        assert (a.out_dir / rel).read_bytes() == (b.out_dir / rel).read_bytes(), rel


def test_no_contact_steps_follow_the_world_timeline(tmp_path: Path) -> None:
    m = open_market("S", seed=SEED, as_of=AS_OF, n_customers=N)
    _run(m, lambda d: None, 5)
    a = m.write_sources(tmp_path / "a")
    b = simulate(tmp_path / "b", profile="S", seed=SEED, as_of=m.today, n_customers=N)
    # only the world's own reminder ladder differs: the policy under test does the contacting now
    for table in set(contracts.ALL_STREAMS) - {contracts.INTERACTIONS}:
        assert a.files[table.table].read_bytes() == b.files[table.table].read_bytes(), table.table


def test_day_results_are_the_snapshot_increments(tmp_path: Path, truth: pd.DataFrame) -> None:
    m = open_market("S", seed=SEED, as_of=AS_OF, n_customers=N)
    pick = truth[truth.latent_class.isin(["slightly_late", "chronic"])].head(60)
    _run(m, lambda d: _contacts(pick, d), 3)
    before = m.write_sources(tmp_path / "before")
    r = m.advance(_contacts(pick, m.today + timedelta(days=1)))
    after = m.write_sources(tmp_path / "after")
    for table, key in (
        (contracts.PAYMENT_ALLOCATIONS.table, "allocation_id"),
        (contracts.STATEMENT_LINES.table, "bank_txn_id"),
    ):
        old = set(pq.read_table(before.files[table]).column(key).to_pylist())
        new = pq.read_table(after.files[table]).to_pandas()
        expected = new[~new[key].isin(old)].sort_values(key).reset_index(drop=True)
        got = r.tables[table].sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    inv = pq.read_table(after.files[contracts.INVOICES.table]).to_pandas()
    day_start = pd.Timestamp(r.day)
    changed = inv[inv.updated_at >= day_start].sort_values("invoice_id").reset_index(drop=True)
    got = r.invoices.sort_values("invoice_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, changed, check_dtype=False)
    inter = pd.read_csv(after.files[contracts.INTERACTIONS.table], dtype=str, keep_default_na=False)
    today = inter[inter.occurred_at >= str(day_start)]
    assert sorted(today.interaction_id) == sorted(r.interactions.interaction_id)
    assert (r.interactions.direction == "outbound").sum() >= r.contacts - 5  # a few sent after midnight UTC


def test_same_seed_and_contacts_give_identical_day_results(truth: pd.DataFrame) -> None:
    pick = truth.head(80)

    def policy(d: date) -> pd.DataFrame:
        return _contacts(pick, d)

    a = _run(open_market("S", seed=SEED, as_of=AS_OF, n_customers=N), policy, 4)
    b = _run(open_market("S", seed=SEED, as_of=AS_OF, n_customers=N), policy, 4)
    for ra, rb in zip(a, b, strict=True):
        assert (ra.contacts, ra.replies, ra.promises, ra.opt_outs) == (
            rb.contacts,
            rb.replies,
            rb.promises,
            rb.opt_outs,
        )
        assert ra.payments_amount == rb.payments_amount
        for name in ra.tables:
            pd.testing.assert_frame_equal(ra.tables[name], rb.tables[name])


def test_contacts_leave_uncontacted_customers_and_new_invoices_untouched(truth: pd.DataFrame) -> None:
    pick = truth[truth.latent_class.isin(["slightly_late", "chronic"])].head(150)
    days = 20
    base = _run(open_market("S", seed=SEED, as_of=AS_OF, n_customers=N), lambda d: None, days)
    pol = _run(
        open_market("S", seed=SEED, as_of=AS_OF, n_customers=N),
        lambda d: _contacts(pick, d) if d.weekday() == 1 else None,
        days,
    )
    assert sum(r.contacts for r in pol) == 3 * len(pick)
    for rb, rp in zip(base, pol, strict=True):
        issued_b = rb.invoices[rb.invoices.issue_date == rb.day]
        issued_p = rp.invoices[rp.invoices.issue_date == rp.day]
        pd.testing.assert_frame_equal(
            issued_b[["invoice_id", "customer_id", "amount_total", "due_date"]].reset_index(drop=True),
            issued_p[["invoice_id", "customer_id", "amount_total", "due_date"]].reset_index(drop=True),
        )
    others = set(truth.customer_id) - set(pick.customer_id)
    pd.testing.assert_frame_equal(_allocs(base, others), _allocs(pol, others))
    assert not _allocs(base, set(pick.customer_id)).equals(_allocs(pol, set(pick.customer_id)))


def _collected(results: list, customers: set[str]) -> int:
    return len(_allocs(results, customers))


def test_contacts_on_a_sensitive_channel_raise_payments_of_responsive_customers(truth: pd.DataFrame) -> None:
    pick = truth[truth.latent_class.isin(["slightly_late", "chronic", "deteriorating"])]
    ids = set(pick.customer_id)
    days = 30

    def weekly(d: date) -> pd.DataFrame | None:
        return _contacts(pick, d) if d.weekday() == 1 else None

    base = _run(open_market("S", seed=SEED, as_of=AS_OF, n_customers=N), lambda d: None, days)
    m = open_market("S", seed=SEED, as_of=AS_OF, n_customers=N)
    start = m.today + timedelta(days=1)
    pol = _run(m, weekly, days)
    n_base, n_pol = _collected(base, ids), _collected(pol, ids)
    assert n_pol > n_base * 1.15 and n_pol - n_base >= 15, (n_base, n_pol)
    assert sum(r.promises for r in pol) > 0 and sum(r.replies for r in pol) > 0
    assert m.contacts_made == sum(r.contacts for r in pol)
    assert m.amount_collected(start)
    b = open_market("S", seed=SEED, as_of=AS_OF, n_customers=N)
    _run(b, lambda d: None, days)
    assert m.dso() < b.dso()


def test_defaulting_customers_barely_respond(truth: pd.DataFrame) -> None:
    m0 = open_market("S", seed=SEED, as_of=AS_OF, n_customers=N)
    dflt = truth[(truth.latent_class == "defaulting") & (truth.default_date < AS_OF)]
    assert len(dflt) >= 5
    ids = set(dflt.customer_id)
    days = 30
    base = _run(m0, lambda d: None, days)
    pol = _run(
        open_market("S", seed=SEED, as_of=AS_OF, n_customers=N),
        lambda d: _contacts(dflt, d) if d.weekday() in (1, 3) else None,
        days,
    )
    contacts = sum(r.contacts for r in pol)
    assert _collected(pol, ids) - _collected(base, ids) <= max(2, contacts // 20)


def test_over_contacting_produces_opt_outs_and_complaints(truth: pd.DataFrame) -> None:
    pick = truth.head(120)
    m = open_market("S", seed=SEED, as_of=AS_OF, n_customers=N)

    def spam(d: date) -> pd.DataFrame:
        day = pd.concat([_contacts(pick, d, "email", h) for h in (13, 15, 17)], ignore_index=True)
        return pd.concat([day, _contacts(pick, d, "sms", 23)], ignore_index=True)  # outside lawful hours

    res = _run(m, spam, 5)
    opt_outs = sum(r.opt_outs for r in res)
    complaints = sum(r.complaints for r in res)
    assert opt_outs > 0.1 * len(pick) and complaints > 0
    contacts_rows = pd.concat([r.tables[contracts.CONTACTS.table] for r in res])
    withdrawn = contacts_rows[~contacts_rows.consent_email | ~contacts_rows.consent_sms]
    assert len(withdrawn) > 0
    gentle = open_market("S", seed=SEED, as_of=AS_OF, n_customers=N)
    calm = _run(gentle, lambda d: _contacts(pick, d, "email") if d.weekday() == 1 else None, 5)
    assert sum(r.opt_outs for r in calm) < opt_outs / 10


def test_written_sources_load_through_the_file_connector(tmp_path: Path, truth: pd.DataFrame) -> None:
    m = open_market("S", seed=SEED, as_of=AS_OF, n_customers=N)
    pick = truth.head(100)
    _run(m, lambda d: pd.concat([_contacts(pick, d), _contacts(pick.head(30), d, "email", 23)]), 6)
    manifest = m.write_sources(tmp_path / "landing")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        results = load_mapping_files(con, simulator_mapping(manifest.out_dir))
        assert results and all(r.rows_quarantined == 0 for r in results)
        assert con.execute("select count(*) from quarantine.raw_records").fetchone()[0] == 0
        n = con.execute("select count(*) from raw_crm.interactions where interaction_id like 'int_s%'").fetchone()[0]
        assert n >= 6 * 100
    finally:
        con.close()
    again = m.write_sources(tmp_path / "again")
    for rel in manifest.files.values():
        assert rel.read_bytes() == (again.out_dir / rel.relative_to(manifest.out_dir)).read_bytes()


def test_bad_contacts_are_refused_with_a_clear_message(truth: pd.DataFrame) -> None:
    m = open_market("S", seed=SEED, as_of=AS_OF, n_customers=N)
    day = m.today + timedelta(days=1)
    with pytest.raises(ValueError, match="unknown channel"):
        m.advance(_contacts(truth.head(2), day, "pigeon"))
    m = open_market("S", seed=SEED, as_of=AS_OF, n_customers=N)
    with pytest.raises(ValueError, match="scheduled outside"):
        m.advance(_contacts(truth.head(2), day + timedelta(days=3)))


def test_keyed_uniforms_are_counter_based() -> None:
    a = keyed_uniform(1, 2, np.arange(5), 10)
    b = keyed_uniform(1, 2, np.arange(5)[::-1], 10)[::-1]
    assert np.array_equal(a, b) and ((a >= 0) & (a < 1)).all()
    u = keyed_uniform(3, 4, np.arange(100_000))
    assert abs(u.mean() - 0.5) < 0.01


def test_a_contact_never_makes_an_invoice_paid_before_its_due_date(truth: pd.DataFrame) -> None:
    # Every customer, every day, about all its open invoices (not yet due ones included): whatever is
    # paid before its due date must have been paid then without any contact too (the latent timeline).
    days = 20
    everyone = truth[truth.latent_class != "defaulting"]
    m = open_market("S", seed=SEED, as_of=AS_OF, n_customers=N)
    pol = _allocs(_run(m, lambda d: _contacts(everyone, d), days))
    base = _allocs(_run(open_market("S", seed=SEED, as_of=AS_OF, n_customers=N), lambda d: None, days))
    idx = pol["invoice_id"].str.removeprefix("inv_").astype(int).to_numpy() - 1
    due = pd.Series([Market._date(int(d)) for d in m.inv["due"][idx]], index=pol.index)
    paid = pd.to_datetime(pol["payment_date"]).dt.date
    early = pol[paid < due]
    latent = set(zip(base["invoice_id"], pd.to_datetime(base["payment_date"]).dt.date, strict=True))
    caused = [(i, d) for i, d in zip(early["invoice_id"], paid[early.index], strict=True) if (i, d) not in latent]
    assert not caused, f"contacts made invoices paid before their due date: {caused[:5]}"
    assert len(pol) > len(base)  # the contacts did pull overdue payments forward


def test_write_off_leaves_collectable_ar_once_and_stays_in_gross() -> None:
    """Bad-debt policy (issue 22): written off on its day, out of the collectable AR for good, kept gross."""
    m = open_market("S", seed=SEED, as_of=AS_OF, n_customers=N, horizon_days=6)
    wo, gross = m.write_off_day(), m.receivables()
    soon = np.flatnonzero((wo > m._day) & (wo <= m._day + 4) & (gross > 0))
    assert soon.size, "the test world needs an open invoice reaching its write-off day within 4 days"
    i = int(soon[0])
    assert m.receivables(collectable=True)[i] == gross[i] and m.written_off()[i] == 0
    while m._day < wo[i]:
        m.advance()
    after = m.receivables()
    assert m.receivables(collectable=True)[i] == 0 and after[i] > 0  # out of collectable, still owed gross
    written = m.written_off()[i]
    assert written == after[i]
    m.advance()
    assert m.written_off()[i] == written and m.receivables(collectable=True)[i] == 0  # once, not again
    assert m.dso(collectable=True) < m.dso()


def test_defaulted_customers_answer_calls_and_escalations_more_than_letters() -> None:
    """Issue 22: after default a call (pays 35% when answered) or a legal letter moves far more than e-mails (x0.1)."""
    n, days = 1500, 20

    def market() -> Market:
        m = open_market("S", seed=SEED, as_of=AS_OF, n_customers=n, horizon_days=days + 1)
        gone = (m.cust["cls"] == 4) & (m.cust["default_day"] < m._day)
        m.cust["default_day"][gone] = m._day - 10  # defaulted ten days ago: not yet insolvent
        return m

    t = market().truth()
    dflt = t[(t.latent_class == "defaulting") & (t.default_date < AS_OF)].assign(best="email")
    ids = set(dflt.customer_id)
    assert len(ids) >= 30

    def collected(channel: str | None, escalate: bool = False) -> int:
        m, res = market(), []
        for _ in range(days):
            day = m.today + timedelta(days=1)
            esc = pd.DataFrame({"customer_id": sorted(ids), "intent": "legal"}) if escalate and not res else None
            contacts = _contacts(dflt, day, channel) if channel and day.weekday() in (1, 3) else None
            res.append(m.advance(contacts, esc))
        return _collected(res, ids)

    base = collected(None)
    email, call, legal = collected("email") - base, collected("call") - base, collected(None, True) - base
    assert call > 2 * max(email, 1) and legal > 2 * max(email, 1), (email, call, legal)
    with pytest.raises(ValueError, match="unknown customer_id"):
        market().advance(None, pd.DataFrame({"customer_id": ["X1"]}))
