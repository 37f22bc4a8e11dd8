"""Day-stepping API of the synthetic AR world: a market that reacts to the contacts it receives (DESIGN.md §8).

``open_market`` builds the latent world of ``simulator.world`` as it stands on ``as_of`` (the history
``simulate()`` writes for that date, byte for byte) and ``Market.advance`` moves it one UTC day
forward given the contacts sent that day. Everything that is not caused by a contact follows the
world's fixed timeline: invoices keep being issued per the customer's rhythm, payments arrive on
their latent day, disputes, credit notes, cancellations and bank fees happen when the timeline says.
Those draws come from the world's ``(seed, stream, month)`` generators, so two markets opened with
the same seed and fed different contact policies share them exactly (common random numbers).

What a contact changes is drawn from counter-based uniforms: a SplitMix64 hash of
``(seed, purpose, customer or invoice, day, channel, rank)``, so a draw depends on *which* contact
or invoice it is about and never on how many draws were taken before. The reaction model:

* delivery: e-mails bounce now and then; a channel the contact cannot be reached on bounces;
* response (reply, promise to pay, dispute) with probability ``sensitivity[channel] x class factor
  x fatigue``: diminishing returns with the contacts of the last 14 days, halved per written message
  above 2 a week (or call above 1), halved outside Mon-Fri 09:00-19:00 local, cut without consent;
* payment: a reply pulls the contacted open invoices (all of them, or some) forward to a day drawn
  after the contact; a promise names a date and an amount and is kept or broken by class; a
  delivered but unanswered message nudges a little; a payment never moves later than the latent day,
  and never earlier than the invoice's due date: a business's payables are released on the due
  date at the earliest, so a reminder before the due date can make an invoice paid on time, not
  early (a promise made before the due date names the due date);
  defaulting customers after their default date barely react to written reminders (x0.1), but one
  who answers a call pays with probability 0.35 until insolvency, after which x0.1 on everything;
* escalation (``advance(..., escalations=...)``: a legal demand letter or a credit hold) makes a
  customer pay its overdue invoices within about two weeks with a class-dependent probability;
* bad debt: an invoice 180 days past due, or open at its customer's insolvency, is written off:
  ``dso(collectable=True)`` leaves it out, the gross ``dso()`` keeps it until paid;
* annoyance: over-contacting, unlawful hours and channels without consent produce opt-outs (the
  contact's consent for that channel turns false in the CRM) and complaints.

The world's own dunning reminders after ``as_of`` are dropped: from then on the policy under test
does the contacting. Ground truth (``Market.truth``, the metrics) is kept apart from the raw
streams; ``Market.write_sources`` writes only what the pipeline may read, plus ``_truth/`` as
``simulate()`` does.

Vectorised with numpy / pyarrow: Python loops only run over time zones and contract streams.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from connectors import contracts
from simulator import profiles as P
from simulator import world as W
from simulator.writers import DEFAULT_START_DATE, SimulationManifest, write_tables

logger = logging.getLogger(__name__)

DAY = W.DAY
NEVER = W.NEVER
DEFAULT_AS_OF = date(2026, 11, 23)
GENERATION_DAYS = 366  # the latent timeline is generated this far past as_of
WINDOW_DAYS = 45  # payment days that can still produce bank lines or ERP records today
LATE_SCHEDULE_SECONDS = 12 * 3600  # contacts may be scheduled up to 12 h into the next UTC day

CHANNELS: tuple[str, ...] = P.CHANNELS  # email, whatsapp, sms, call
WRITTEN = np.array([True, True, True, False])
CH_EMAIL, CH_WHATSAPP, CH_SMS, CH_CALL = range(4)

# Reaction parameters per latent class (on_time, slightly_late, chronic, deteriorating, defaulting).
CLASS_RESPONSE = np.array([1.0, 0.95, 0.8, 0.7, 0.3])
CLASS_PAY_ON_REPLY = np.array([0.7, 0.7, 0.55, 0.45, 0.1])
CLASS_KEEP_PROMISE = np.array([0.9, 0.85, 0.55, 0.45, 0.1])
CLASS_NUDGE = np.array([0.2, 0.25, 0.15, 0.12, 0.02])
CLASS_DISPUTE = np.array([0.01, 0.02, 0.05, 0.06, 0.06])
AFTER_DEFAULT = 0.1  # multiplier on a written reminder's payment probabilities once a defaulting customer defaulted
# A customer in default answers a phone call far more than a written reminder: a call to delinquent
# borrowers raised on-time repayment by ~34 percentage points where written reminders moved little
# (Laudenbach, Pirschel and Siegel, "Personal communication in an automated world: evidence from loan
# repayments", 2018/2023). Before insolvency a defaulted customer who answers a call pays (or keeps the
# promise he makes on it) with probability AFTER_DEFAULT_CALL, and a call's unanswered nudge is x0.5
# instead of x0.1 (issue 22).
AFTER_DEFAULT_CALL = 0.35
# Formal escalation (a legal demand letter or a credit hold) moves customers that ignore reminders:
# enforcement-worded letters beat plain ones (Fellner, Sausgruber and Traxler, JEEA 2013; Hallsworth et
# al., J. Public Econ. 2017), and a supplier's threat to stop deliveries is its enforcement advantage
# over banks (Petersen and Rajan, RFS 1997; Cunat, RFS 2007). P(the customer pays its overdue invoices
# within ~2 weeks of the escalation) per latent class; x ESC_AFTER_DEFAULT once it defaulted (a legal
# letter still recovers some, a credit hold little from a customer that no longer buys) (issue 22).
ESC_PAY = {"legal": np.array([0.6, 0.6, 0.5, 0.45, 0.35]), "credit_hold": np.array([0.6, 0.6, 0.55, 0.5, 0.3])}
ESC_AFTER_DEFAULT = {"legal": 0.5, "credit_hold": 0.15}
# Bad-debt write-off policy (both arms alike, issue 22): an invoice still open 180 days past its due date
# is written off (the US bank regulators' charge-off rule for open-end credit, FFIEC Uniform Retail Credit
# Classification 2000; IFRS 9 5.4.4 writes off what has no reasonable expectation of recovery, B5.5.37
# presumes default at 90 days), and every open invoice of a defaulting customer on insolvency, modelled as
# INSOLVENCY_DAYS after it stopped paying. Written-off receivables leave the collectable AR once and stay in
# gross AR until (if ever) paid; after insolvency every channel and escalation is x AFTER_DEFAULT.
WRITE_OFF_DPD = 180
INSOLVENCY_DAYS = 90
BOUNCE = np.array([0.04, 0.01, 0.015, 0.0])
PROMISE_SHARE = 0.5  # of the responses without a dispute
ALL_INVOICES_SHARE = 0.7  # a paying customer pays every contacted invoice, otherwise about half
OUTCOME_CODES = {name: i for i, name in enumerate(W.OUTCOMES)}

# Purposes of the counter-based draws.
(
    U_BOUNCE,
    U_RESPONSE,
    U_PROMISE,
    U_KEEP,
    U_DELAY,
    U_PAY,
    U_DISPUTE,
    U_ANNOY,
    U_COMPLAINT,
    U_READ,
    U_ALL,
    U_SUBSET,
    U_REACT_SEC,
    U_DISPUTE_RES,
    U_REASON,
    U_DORMANT,
    U_ESCALATE,
    U_ESC_DELAY,
) = range(1, 19)

_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix(x: np.ndarray) -> np.ndarray:
    x = x + _GOLDEN
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def keyed_uniform(seed: int, purpose: int, *keys: np.ndarray | int) -> np.ndarray:
    """Counter-based uniforms in [0, 1): a SplitMix64 hash of ``(seed, purpose, *keys)``.

    Args:
        seed: World seed.
        purpose: What the draw is for (one stream per purpose).
        *keys: Integer arrays (broadcast together) or scalars identifying the draw.

    Returns:
        Float64 uniforms with the broadcast shape of ``keys``; the same keys always give the same value.
    """
    with np.errstate(over="ignore"):
        h = _splitmix(np.full(1, seed % (1 << 64), dtype=np.uint64) ^ np.uint64(purpose << 48))
        for k in keys:
            h = _splitmix(h ^ np.asarray(k).astype(np.int64).astype(np.uint64))
    return (h >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


@dataclass
class DayResult:
    """What one ``Market.advance`` produced.

    Attributes:
        day: The simulated UTC day.
        tables: Raw table name -> new or changed rows whose event instant (``updated_at``,
            ``occurred_at``, ``recorded_at``, booking date) falls in ``day``, contract columns, money
            as ``Decimal``.
        contacts: Contacts received.
        bounces: Contacts that bounced or could not be delivered.
        replies: Contacts answered (reply, promise or dispute).
        promises: Promises to pay made.
        disputes: Disputes opened during ``day`` (by the timeline or by a contact).
        opt_outs: Channel consents withdrawn because of the contacts.
        complaints: Complaints about the contacts.
        escalations: Escalations (legal letter, credit hold) received.
        payments_count: Customer payment bank lines booked during ``day``, per currency.
        payments_amount: Their amount, per currency.
    """

    day: date
    tables: dict[str, pd.DataFrame]
    contacts: int = 0
    bounces: int = 0
    replies: int = 0
    promises: int = 0
    disputes: int = 0
    opt_outs: int = 0
    complaints: int = 0
    escalations: int = 0
    payments_count: dict[str, int] = field(default_factory=dict)
    payments_amount: dict[str, Decimal] = field(default_factory=dict)

    @property
    def invoices(self) -> pd.DataFrame:
        """Invoices issued or changed (paid in the ERP, credited, cancelled) that day."""
        return self.tables[contracts.INVOICES.table]

    @property
    def payment_allocations(self) -> pd.DataFrame:
        """Allocations the ERP recorded that day."""
        return self.tables[contracts.PAYMENT_ALLOCATIONS.table]

    @property
    def statement_lines(self) -> pd.DataFrame:
        """Bank lines booked that day."""
        return self.tables[contracts.STATEMENT_LINES.table]

    @property
    def interactions(self) -> pd.DataFrame:
        """Interactions that occurred that day, the outbound contacts included."""
        return self.tables[contracts.INTERACTIONS.table]

    @property
    def disputes_table(self) -> pd.DataFrame:
        """Disputes opened or resolved that day."""
        return self.tables[contracts.DISPUTES.table]


def open_market(
    profile: str = "S",
    seed: int = 42,
    start_date: date = DEFAULT_START_DATE,
    as_of: date = DEFAULT_AS_OF,
    n_customers: int | None = None,
    *,
    horizon_days: int = GENERATION_DAYS,
) -> Market:
    """Open the simulated market as it stands at the end of ``as_of``.

    Args:
        profile: Scale profile ``S``, ``M`` or ``L``.
        seed: World seed (the same as ``simulate``'s).
        start_date: First day of the timeline.
        as_of: Day the market opens at; its history is what ``simulate(as_of=as_of)`` writes.
        n_customers: Override the profile's customer count.
        horizon_days: How many days the market can be advanced (latent timeline generated ahead).

    Returns:
        The market, ready to ``advance``.

    Raises:
        ValueError: On an unknown profile, a non-positive size or dates outside the horizon.
    """
    prof = P.get_profile(profile)
    cfg = W.WorldConfig(
        seed=seed,
        start_date=start_date,
        as_of=as_of,
        n_customers=prof.n_customers if n_customers is None else n_customers,
        invoice_number_width=prof.invoice_number_width,
    )
    W.validate_dates(start_date, as_of)
    if cfg.n_customers <= 0:
        raise ValueError(f"n_customers must be positive, got {cfg.n_customers}")
    last = min(as_of + timedelta(days=horizon_days), W.horizon_end(start_date))
    return Market(cfg, prof.name, last)


class Market:
    """The stepped world. Create it with ``open_market``.

    Attributes:
        contacts_made: Contacts received by ``advance`` so far.
    """

    def __init__(self, cfg: W.WorldConfig, profile: str, last_day: date) -> None:
        self.cfg = cfg
        self.profile = profile
        self._open_day = W._day(cfg.as_of)
        self._day = self._open_day
        self._last_day = W._day(last_day)
        self.contacts_made = 0
        cust = W._customers(cfg)
        cont = W._contacts(cfg, cust)
        debtor = {"consent": cont["consent"][cont["debtor_idx"]]}
        inv_c, parts_c, inter_c, other_c = [], [], [], []
        for m, lo, hi in W._chunk_bounds(cfg.start_date, last_day):
            chunk = W._month_chunk(cfg, cust, debtor, m, lo, hi)
            inv_c.append(chunk["inv"])
            parts_c.append(chunk["parts"])
            inter_c.append(chunk["inter"])
            other_c.append(chunk["other"])
        sizes = np.array([c["cust"].size for c in inv_c], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self.cust, self.cont = cust, cont
        self.inv = W._concat(inv_c)
        self.parts = self._with_dormant_parts(W._concat(parts_c, offsets))
        inter = W._concat(inter_c, offsets)
        # The world's own reminder ladder stops at as_of: from then on the policy under test contacts.
        keep = (inter["k"] >= 7) | (inter["day"] <= self._open_day)
        self.inter = {k: a[keep] for k, a in inter.items()}
        self.other = W._concat(other_c)
        ci = cont["debtor_idx"][self.inv["cust"][self.inter["inv"]]]
        self._inter_ts = W._local_to_utc(self.inter["day"], self.inter["local_sec"], cont["tz_idx"][ci], self._zones)
        n_inv = self.inv["cust"].size
        self._claim_row = np.full(n_inv, -1, dtype=np.int64)
        claims = np.flatnonzero(self.inter["k"] == 8)
        self._claim_row[self.inter["inv"][claims]] = claims
        self._part0 = np.searchsorted(self.parts["key"], np.arange(n_inv, dtype=np.int64) * 2)
        self._part0[self.parts["key"][np.minimum(self._part0, self.parts["key"].size - 1)] != np.arange(n_inv) * 2] = -1
        self._v_all = W._Visible(cfg, cust)
        self._v_all.invoice_keys(self.inv)
        self._cn_numbers()
        n_contacts = cont["cust"].size
        self._optout_ts = np.full((n_contacts, 4), np.iinfo(np.int64).max, dtype=np.int64)
        self._value = np.full(self.parts["key"].size, NEVER, dtype=np.int64)
        self._refresh_values(np.arange(int(cust["n"])))
        self._paid_rec = np.zeros(n_inv, dtype=np.int64)
        self._last_rec = np.zeros(n_inv, dtype=np.int64)
        self._init_recorded()
        self._log: list[dict[str, np.ndarray]] = []
        self._policy: list[tuple[int, pa.Table]] = []  # (day sent, interactions logged)
        logger.info(
            "market opened: %d customers, %d invoices generated to %s, as_of %s",
            int(cust["n"]),
            n_inv,
            last_day,
            cfg.as_of,
        )

    # ------------------------------------------------------------------------------------------
    # public API

    @property
    def today(self) -> date:
        """The last simulated day (UTC); ``advance`` simulates the day after it."""
        return date(1970, 1, 1) + timedelta(days=self._day)

    def advance(self, contacts: pd.DataFrame | None = None, escalations: pd.DataFrame | None = None) -> DayResult:
        """Simulate the next UTC day, given the contacts sent during it.

        Args:
            contacts: One row per contact: ``customer_id``, ``channel`` (email, whatsapp, sms, call;
                ``call_task`` is read as call), ``scheduled_at`` (UTC, naive or aware, inside the day
                or up to 12 h after it), ``invoice_ids`` (list of invoice ids; empty means all open
                invoices of the customer) and optionally ``contact_id`` (default: the debtor contact).

        Returns:
            The day's new raw rows and counters.

        Raises:
            ValueError: On unknown customers, channels or contact ids, or a ``scheduled_at`` outside
                the day, or when the generated horizon is exhausted.
            escalations: Optional, one row per escalation decided that day: ``customer_id`` and
                ``intent`` (``legal`` or ``credit_hold``; anything else is read as ``legal``).
        """
        t = self._day + 1
        if t > self._last_day:
            raise ValueError(
                f"the market was generated up to {self._date(self._last_day)}; open it with a larger horizon_days"
            )
        self._day = t
        counters = self._react(t, contacts)
        counters["escalations"] = self._escalate(t, escalations)
        result = self._day_rows(t, counters)
        logger.info(
            "advanced to %s: %d contacts, %d payments, %d promises, %d opt-outs, %d complaints",
            self.today,
            result.contacts,
            sum(result.payments_count.values()),
            result.promises,
            result.opt_outs,
            result.complaints,
        )
        return result

    def write_sources(self, out_dir: Path) -> SimulationManifest:
        """Write the market as seen at the end of ``today`` in ``simulate()``'s layout and formats.

        Args:
            out_dir: Target directory (created if missing; files replaced).

        Returns:
            The manifest (``as_of`` = ``today``). Right after ``open_market`` the files are
            byte-identical to ``simulate(as_of=as_of)``'s.
        """
        cfg = replace(self.cfg, as_of=self.today)
        return write_tables(self._full_tables(cfg), Path(out_dir), self.profile, cfg)

    def _live(self) -> np.ndarray:
        """Invoices posted by today and not cancelled by today."""
        t, inv = self._day, self.inv
        return (inv["issue"] <= t) & ~(inv["cancelled"] & (inv["cancel_day"] <= t))

    def receivables(self, collectable: bool = False) -> np.ndarray:
        """Ground-truth amount still owed today per invoice, in minor units of its currency.

        Posted, not cancelled invoices' totals less visible credit notes and the payments value-dated
        by today (money in the bank, not the ERP's view); 0 for the others. ``collectable`` leaves out
        the invoices written off by today (:meth:`write_off_day`).
        """
        t, inv = self._day, self.inv
        cn = np.where(inv["has_cn"] & (inv["cn_day"] <= t), inv["cn_amt"], 0)
        paid = np.bincount(
            self.parts["inv"], weights=np.where(self._value <= t, self.parts["amount"], 0), minlength=inv["cust"].size
        )
        ar = np.where(self._live(), inv["total"] - cn - paid, 0.0)
        return np.where(self.write_off_day() <= t, 0.0, ar) if collectable else ar

    def write_off_day(self) -> np.ndarray:
        """Day each invoice is written off if still open then (bad-debt policy, ``WRITE_OFF_DPD``, insolvency).

        ``WRITE_OFF_DPD`` days after the due date, or on the customer's insolvency (``INSOLVENCY_DAYS``
        after a defaulting customer's default date) if earlier. A fixed day per invoice: an invoice
        whose balance is 0 on that day was never written off; one written off leaves the collectable AR
        once and for all (a later recovery reduces the gross AR only).
        """
        inv, cust = self.inv, self.cust
        c = inv["cust"]
        insolvency = np.where(
            cust["cls"][c] == 4, cust["default_day"][c].astype(np.int64) + INSOLVENCY_DAYS, NEVER
        ).astype(np.int64)
        return np.minimum(inv["due"].astype(np.int64) + WRITE_OFF_DPD, insolvency)

    def written_off(self) -> np.ndarray:
        """Amount written off by today per invoice (its balance on its write-off day), minor units."""
        t, inv = self._day, self.inv
        wo = self.write_off_day()
        cn = np.where(inv["has_cn"] & (inv["cn_day"] <= wo), inv["cn_amt"], 0)
        part_wo = wo[self.parts["inv"]]
        paid = np.bincount(
            self.parts["inv"],
            weights=np.where(self._value <= part_wo, self.parts["amount"], 0),
            minlength=inv["cust"].size,
        )
        live_then = (inv["issue"] <= wo) & ~(inv["cancelled"] & (inv["cancel_day"] <= wo))
        return np.where((wo <= t) & live_then, np.maximum(inv["total"] - cn - paid, 0.0), 0.0)

    def dso(self, currency: str | None = None, collectable: bool = False) -> float:
        """Days sales outstanding today (ground truth: money in the bank, not the ERP's view).

        ``receivables / credit sales of the last 90 days x 90``; receivables are the posted
        invoices' totals less visible credit notes and payments value-dated by today.

        Args:
            currency: Restrict to one ISO 4217 currency; ``None`` converts everything to USD.
            collectable: Leave the written-off receivables out (bad-debt policy); default gross.

        Returns:
            DSO in days (``nan`` without sales in the period).
        """
        t = self._day
        inv = self.inv
        live = self._live()
        ar = self.receivables(collectable)
        sales = np.where(live & (inv["issue"] > t - 90), inv["total"], 0.0)
        country = self.cust["country"][inv["cust"]]
        if currency is None:
            rate = np.array([c.usd_rate for c in P.COUNTRIES])[country]
            ar, sales = ar / rate, sales / rate
        else:
            codes = np.array([c.currency for c in P.COUNTRIES])
            if currency not in codes:
                raise ValueError(f"unknown currency {currency!r}; the market uses {', '.join(codes)}")
            mask = codes[country] == currency
            ar, sales = ar * mask, sales * mask
        total_sales = float(sales.sum())
        return float(ar.sum()) / total_sales * 90.0 if total_sales > 0 else float("nan")

    def amount_collected(self, since: date) -> dict[str, Decimal]:
        """Customer payments value-dated from ``since`` to ``today``, per currency (exact).

        Args:
            since: First value date counted.

        Returns:
            Currency -> amount.
        """
        m = (self._value >= W._day(since)) & (self._value <= self._day)
        cur = self.cust["country"][self.inv["cust"][self.parts["inv"][m]]]
        sums = np.bincount(cur, weights=self.parts["amount"][m], minlength=len(P.COUNTRIES))
        return {c.currency: Decimal(int(round(s))).scaleb(-2) for c, s in zip(P.COUNTRIES, sums, strict=True) if s}

    def truth(self) -> pd.DataFrame:
        """Latent classes and channel sensitivities of the customers onboarded by ``today``.

        For evaluation code only: the pipeline never reads it.
        """
        cust = self.cust
        cv = np.flatnonzero(cust["created_day"].astype(np.int64) * DAY + cust["created_sec"] < (self._day + 1) * DAY)
        cls = cust["cls"][cv]
        return pd.DataFrame(
            {
                "customer_id": self._v_all.cust(cv).to_numpy(zero_copy_only=False),
                "latent_class": np.array(P.LATENT_CLASSES, dtype=object)[cls],
                **{f"sensitivity_{ch}": cust["sens"][cv, j] for j, ch in enumerate(CHANNELS)},
                "payment_run": np.array(["none", "weekly", "month_end"], dtype=object)[cust["batch_mode"][cv]],
                "default_date": pd.Series(cust["default_day"][cv].astype("datetime64[D]")).dt.date.where(
                    cls == 4, None
                ),
            }
        )

    # ------------------------------------------------------------------------------------------
    # latent state

    @property
    def _zones(self) -> list[str]:
        return list(self.cont["zones"])

    @staticmethod
    def _date(day: int) -> date:
        return date(1970, 1, 1) + timedelta(days=int(day))

    def _with_dormant_parts(self, parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Add a never-due payment part to every payable invoice the timeline leaves unpaid.

        A contact may still get such an invoice paid (the odd lost invoice, a defaulter who pays one
        bill); until then the part is dormant (day ``NEVER``) and invisible.
        """
        inv = self.inv
        n = inv["cust"].size
        has_part = np.zeros(n, dtype=bool)
        has_part[parts["inv"]] = True
        net = inv["total"] - inv["cn_amt"]
        d = np.flatnonzero(~has_part & ~inv["cancelled"] & (net > 0))
        seed = self.cfg.seed
        u = np.stack([keyed_uniform(seed, U_DORMANT, d, j) for j in range(W.N_UNIFORMS)], axis=1)
        dormant = {
            "inv": d.astype(np.int64),
            "part_no": np.zeros(d.size, np.int8),
            "day": np.full(d.size, NEVER, np.int32),
            "amount": net[d].astype(np.int64),
            "lag": (1 + (keyed_uniform(seed, U_DORMANT, d, 100) * 5).astype(np.int64)).astype(np.int8),
            "rec_sec": (13 * 3600 + (keyed_uniform(seed, U_DORMANT, d, 101) * 36000).astype(np.int64)).astype(np.int32),
            "u": u.astype(np.float32),
        }
        out = {k: np.concatenate([parts[k], dormant[k]]) for k in parts}
        key = out["inv"] * 2 + out["part_no"]
        o = np.argsort(key, kind="stable")
        out = {k: a[o] for k, a in out.items()}
        out["key"] = key[o]
        return out

    def _active(self, mask: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """The parts with a payment day (optionally only where ``mask``), in key order."""
        m = self.parts["day"] < NEVER
        if mask is not None:
            m &= mask
        return {k: a[m] for k, a in self.parts.items() if k != "key"} | {"_idx": np.flatnonzero(m)}

    def _refresh_values(self, customers: np.ndarray) -> None:
        """Recompute the bank value date of every part of ``customers`` (payment runs group parts)."""
        sel = np.zeros(int(self.cust["n"]), dtype=bool)
        sel[customers] = True
        on = sel[self.inv["cust"][self.parts["inv"]]]
        self._value[on] = NEVER
        sub = self._active(on)
        if sub["_idx"].size:
            tr = W._transfers(sub, self.inv, self.cust)
            self._value[sub["_idx"]] = tr["value"][tr["part_t"]]

    def _init_recorded(self) -> None:
        sub = self._active(self._value <= self._day + 5)
        if not sub["_idx"].size:
            return
        tr = W._transfers(sub, self.inv, self.cust)
        rec = np.maximum(tr["value"][tr["part_t"]] + sub["lag"], tr["booking"][tr["part_t"]]) * DAY + sub["rec_sec"]
        m = rec < (self._day + 1) * DAY
        self._paid_rec += np.bincount(sub["inv"][m], weights=sub["amount"][m], minlength=self._paid_rec.size).astype(
            np.int64
        )
        np.maximum.at(self._last_rec, sub["inv"][m], rec[m])

    def _cn_numbers(self) -> None:
        inv = self.inv
        ci = np.flatnonzero(inv["has_cn"])
        ci = ci[np.lexsort((ci, inv["cn_day"][ci]))]
        year = W._year(inv["cn_day"][ci])
        seq = np.arange(ci.size) - np.searchsorted(year, year, side="left") + 1
        self._cn_pos = np.full(inv["cust"].size, -1, dtype=np.int64)
        self._cn_pos[ci] = np.arange(ci.size)
        self._cn_number = W._join(
            "CN-", pc.cast(pa.array(year), pa.string()), "-", W._pad(seq, self.cfg.invoice_number_width)
        )

    def _visible(self, t: int) -> W._Visible:
        v = copy.copy(self._v_all)
        v.cfg = replace(self.cfg, as_of=self._date(t))
        v.day = t
        v.cutoff = (t + 1) * DAY
        return v

    def _consent_now(self, contact: np.ndarray, ts: np.ndarray) -> np.ndarray:
        """(n, 4) consent of ``contact`` at instants ``ts`` (dated CRM change and opt-outs applied)."""
        cont = self.cont
        consent = cont["consent"][contact].copy()
        change_ts = cont["change_day"][contact].astype(np.int64) * DAY + cont["change_sec"][contact]
        flip = np.zeros_like(consent)
        flip[np.arange(contact.size), cont["change_ch"][contact]] = change_ts < ts
        consent ^= flip
        has_mobile = cont["has_phone"][contact] & cont["mobile"][contact]
        consent &= np.stack([cont["has_email"][contact], has_mobile, has_mobile, cont["has_phone"][contact]], axis=1)
        return consent & ~(self._optout_ts[contact] < ts[:, None])

    def _local(self, ts: np.ndarray, contact: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Local weekday (Monday 0) and second of day of UTC instants in the contacts' zones."""
        tz = self.cont["tz_idx"][contact]
        local = np.empty(ts.size, dtype=np.int64)
        for i, zone in enumerate(self._zones):
            m = tz == i
            if m.any():
                utc = pd.DatetimeIndex(ts[m].astype("datetime64[s]")).tz_localize("UTC")
                wall = utc.tz_convert(zone).tz_localize(None)
                local[m] = wall.to_numpy().astype("datetime64[s]").astype(np.int64)
        return W._weekday(local // DAY), local % DAY

    # ------------------------------------------------------------------------------------------
    # reaction to contacts

    def _parse(self, t: int, contacts: pd.DataFrame) -> dict[str, np.ndarray]:
        n_cust = int(self.cust["n"])
        width = max(6, len(str(n_cust)))
        cid = contacts["customer_id"].astype(str).to_numpy()
        ok = np.char.startswith(cid.astype(str), "C") & (np.char.str_len(cid.astype(str)) == width + 1)
        num = pd.to_numeric(pd.Series(cid).str[1:], errors="coerce").to_numpy()
        ok &= ~np.isnan(num)
        cust = np.where(ok, num, 0).astype(np.int64) - 1
        ok &= (cust >= 0) & (cust < n_cust)
        if not ok.all():
            raise ValueError(f"unknown customer_id(s) in contacts: {sorted(set(cid[~ok]))[:5]}")
        channel = contacts["channel"].astype(str).str.lower().replace({"call_task": "call"}).to_numpy()
        ch = pd.Series(channel).map({c: i for i, c in enumerate(CHANNELS)}).fillna(-1).to_numpy().astype(np.int64)
        if (ch < 0).any():
            raise ValueError(f"unknown channel(s) {sorted(set(channel[ch < 0]))}; use one of {', '.join(CHANNELS)}")
        sched = pd.to_datetime(contacts["scheduled_at"])
        if sched.dt.tz is not None:
            sched = sched.dt.tz_convert("UTC").dt.tz_localize(None)
        ts = sched.to_numpy().astype("datetime64[s]").astype(np.int64)
        bad = (ts < t * DAY) | (ts >= (t + 1) * DAY + LATE_SCHEDULE_SECONDS)
        if bad.any():
            raise ValueError(
                f"{int(bad.sum())} contact(s) scheduled outside {self._date(t)} (UTC, up to 12 h into the next"
                f" day), e.g. {sched[bad].iloc[0]}; pass each day's contacts to the advance that simulates it"
            )
        debtor = self.cont["debtor_idx"][cust]
        if "contact_id" in contacts.columns:
            raw = contacts["contact_id"]
            given = raw.notna().to_numpy()
            cnum = pd.to_numeric(raw.astype("string").str.removeprefix("CT"), errors="coerce").to_numpy()
            contact = np.where(given & ~np.isnan(cnum), np.nan_to_num(cnum), debtor + 1).astype(np.int64) - 1
            wrong = (contact < 0) | (contact >= self.cont["cust"].size)
            wrong |= self.cont["cust"][np.clip(contact, 0, self.cont["cust"].size - 1)] != cust
            if wrong.any():
                raise ValueError(f"contact_id(s) not belonging to the customer: {raw[wrong].tolist()[:5]}")
        else:
            contact = debtor
        lists = contacts["invoice_ids"] if "invoice_ids" in contacts.columns else pd.Series([[]] * len(contacts))
        o = np.lexsort((ch, ts, cust))
        return {"cust": cust[o], "ch": ch[o], "ts": ts[o], "contact": contact[o], "lists": lists.iloc[o].tolist()}

    def _react(self, t: int, contacts: pd.DataFrame | None) -> dict[str, int]:
        counters = {"contacts": 0, "bounces": 0, "replies": 0, "promises": 0, "opt_outs": 0, "complaints": 0}
        if contacts is None or len(contacts) == 0:
            return counters
        c = self._parse(t, contacts)
        n = c["cust"].size
        seed = self.cfg.seed
        cust_i, ch, ts, contact = c["cust"], c["ch"], c["ts"], c["contact"]
        cls = self.cust["cls"][cust_i]
        defaulted = (cls == 4) & (self.cust["default_day"][cust_i] <= t)
        first = np.r_[True, cust_i[1:] != cust_i[:-1]]
        start = np.maximum.accumulate(np.where(first, np.arange(n), 0))
        rank = np.arange(n) - start  # earlier contacts to the same customer today
        written = WRITTEN[ch]
        cum_written = np.cumsum(written) - written
        written_before = cum_written - cum_written[start]
        cum_calls = np.cumsum(~written) - (~written)
        calls_before = cum_calls - cum_calls[start]
        w7, c7, k14 = self._history(t, cust_i)
        excess = np.where(written, np.maximum(0, w7 + written_before + 1 - 2), np.maximum(0, c7 + calls_before + 1 - 1))
        weekday, local_sec = self._local(ts, contact)
        lawful = (weekday < 5) & (local_sec >= 9 * 3600) & (local_sec < 19 * 3600)
        consent = self._consent_now(contact, ts)[np.arange(n), ch]
        fatigue = 0.5**excess / (1.0 + 0.5 * (k14 + rank)) * np.where(lawful, 1.0, 0.5) * np.where(consent, 1.0, 0.3)

        def u(purpose: int) -> np.ndarray:
            return keyed_uniform(seed, purpose, cust_i, t, ch, rank)

        cont = self.cont
        reachable = np.select(
            [ch == CH_EMAIL, ch == CH_CALL],
            [cont["has_email"][contact], cont["has_phone"][contact]],
            cont["has_phone"][contact] & cont["mobile"][contact],
        )
        bounced = ~reachable | (u(U_BOUNCE) < BOUNCE[ch])
        p_resp = np.clip(self.cust["sens"][cust_i, ch] * CLASS_RESPONSE[cls] * fatigue, 0.0, 0.95)
        responded = ~bounced & (u(U_RESPONSE) < p_resp)
        insolvent = defaulted & (self.cust["default_day"][cust_i].astype(np.int64) + INSOLVENCY_DAYS <= t)
        called = defaulted & (ch == CH_CALL) & ~insolvent
        pay_mult = np.where(defaulted, np.where(called, 0.5, AFTER_DEFAULT), 1.0)

        # Contacted invoices: the listed ones (or all the customer's), open and payable today.
        rows, inv_idx = self._contact_invoices(t, c)
        sel_ok = np.zeros(n, dtype=bool)
        sel_ok[rows] = True
        dispute = responded & (u(U_DISPUTE) < CLASS_DISPUTE[cls]) & sel_ok
        promise = responded & ~dispute & (u(U_PROMISE) < PROMISE_SHARE) & sel_ok
        read = ~bounced & ~responded & (ch <= CH_WHATSAPP) & (u(U_READ) < 0.5)
        u_delay = u(U_DELAY)
        promised_day = t + 2 + (u_delay * 12).astype(np.int64)
        # A promise about invoices not yet due names (at the earliest) the first of their due dates.
        first_due = np.full(n, NEVER, dtype=np.int64)
        np.minimum.at(first_due, rows, self.inv["due"][inv_idx].astype(np.int64))
        promised_day = np.where(first_due < NEVER, np.maximum(promised_day, first_due), promised_day)
        keep_p = np.where(called, AFTER_DEFAULT_CALL, CLASS_KEEP_PROMISE[cls] * pay_mult)
        pay_p = np.where(called, AFTER_DEFAULT_CALL, CLASS_PAY_ON_REPLY[cls] * pay_mult)
        kept = promise & (u(U_KEEP) < keep_p)
        pays = responded & ~promise & ~dispute & (u(U_PAY) < pay_p)
        nudge_p = CLASS_NUDGE[cls] * fatigue * np.minimum(self.cust["sens"][cust_i, ch] / 0.3, 2.0) * pay_mult
        nudged = ~bounced & ~responded & (u(U_PAY) < nudge_p)
        expo = -np.log(np.maximum(u_delay, 1e-12))
        target = np.select(
            [kept, pays, nudged],
            [promised_day, t + 1 + np.minimum(expo * 3.0, 20).astype(np.int64), t + 2 + np.minimum(expo * 5, 30)],
            NEVER,
        ).astype(np.int64)

        # Which of the contacted invoices the customer acts on.
        every = keyed_uniform(seed, U_ALL, cust_i, t, ch, rank) < ALL_INVOICES_SHARE
        take = every[rows] | (keyed_uniform(seed, U_SUBSET, inv_idx, t) < 0.5)
        remaining = self._remaining(t, inv_idx)
        promised_amt = np.bincount(rows, weights=remaining, minlength=n).astype(np.int64)
        self._accelerate(t, inv_idx[take & (target[rows] < NEVER)], target[rows][take & (target[rows] < NEVER)])
        react_ts = ts + 60 + (u(U_REACT_SEC) * 4 * 3600).astype(np.int64)
        disputed_now = self._open_disputes(t, rows, inv_idx, remaining, dispute, react_ts, cust_i, rank, ch)
        dispute &= disputed_now

        annoy = 0.002 + 0.15 * excess + np.where(lawful, 0.0, 0.10) + np.where(consent, 0.0, 0.30)
        bad = ~bounced & (u(U_ANNOY) < annoy)
        complaint = bad & (u(U_COMPLAINT) < 0.4)
        optout_ts = react_ts + 1800
        cur = self._optout_ts[contact[bad], ch[bad]]
        self._optout_ts[contact[bad], ch[bad]] = np.minimum(cur, optout_ts[bad])

        outcome = np.select(
            [bounced, dispute, promise, responded, read],
            [W.O_BOUNCED, W.O_DISPUTE, W.O_PROMISE, W.O_REPLIED, W.O_READ],
            W.O_DELIVERED,
        ).astype(np.int8)
        self._record(t, c, outcome, promise, promised_day, promised_amt, complaint, react_ts)
        self._log.append({"cust": cust_i, "day": np.full(n, t), "written": written})
        self.contacts_made += n
        counters.update(
            contacts=n,
            bounces=int(bounced.sum()),
            replies=int(responded.sum()),
            promises=int(promise.sum()),
            opt_outs=int(bad.sum()),
            complaints=int(complaint.sum()),
        )
        return counters

    def _escalate(self, t: int, escalations: pd.DataFrame | None) -> int:
        """A legal letter or credit hold: the customer pays its overdue invoices within ~2 weeks, or not."""
        if escalations is None or len(escalations) == 0:
            return 0
        n_cust = int(self.cust["n"])
        ids = escalations["customer_id"].astype(str)
        num = pd.to_numeric(ids.str[1:], errors="coerce").to_numpy()
        bad = np.isnan(num) | ~ids.str.startswith("C").to_numpy() | (np.nan_to_num(num) < 1) | (num > n_cust)
        if bad.any():
            raise ValueError(f"unknown customer_id(s) in escalations: {sorted(set(ids[bad]))[:5]}")
        intent = escalations["intent"].astype(str) if "intent" in escalations else pd.Series("legal", index=ids.index)
        frame = pd.DataFrame({"cust": num.astype(np.int64) - 1, "credit_hold": (intent == "credit_hold").to_numpy()})
        frame = frame.drop_duplicates("cust")
        cust_i, hold = frame["cust"].to_numpy(), frame["credit_hold"].to_numpy()
        cls = self.cust["cls"][cust_i]
        default_day = self.cust["default_day"][cust_i].astype(np.int64)
        defaulted = (cls == 4) & (default_day <= t)
        insolvent = defaulted & (default_day + INSOLVENCY_DAYS <= t)
        p = np.where(hold, ESC_PAY["credit_hold"][cls], ESC_PAY["legal"][cls])
        p = p * np.where(defaulted, np.where(hold, ESC_AFTER_DEFAULT["credit_hold"], ESC_AFTER_DEFAULT["legal"]), 1.0)
        p = p * np.where(insolvent, AFTER_DEFAULT, 1.0)
        pays = keyed_uniform(self.cfg.seed, U_ESCALATE, cust_i, t) < p
        payers = cust_i[pays]
        if payers.size:
            n_vis = int(np.searchsorted(self.inv["issue"], t, side="right"))
            idx = np.arange(n_vis)
            idx = idx[np.isin(self.inv["cust"][idx], payers) & (self.inv["due"][idx] <= t)]
            idx = idx[self._payable(t, idx)]
            delay = (keyed_uniform(self.cfg.seed, U_ESC_DELAY, self.inv["cust"][idx], t) * 12).astype(np.int64)
            self._accelerate(t, idx, t + 3 + delay)
        return int(cust_i.size)

    def _history(self, t: int, cust_i: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Written messages and calls in the last 6 days, and contacts in the last 13, per contact row."""
        n_cust = int(self.cust["n"])
        self._log = [e for e in self._log if e["day"][0] > t - 14]
        w7 = np.zeros(n_cust, np.int64)
        c7 = np.zeros(n_cust, np.int64)
        k14 = np.zeros(n_cust, np.int64)
        for e in self._log:
            k14 += np.bincount(e["cust"], minlength=n_cust)
            if e["day"][0] > t - 7:
                w7 += np.bincount(e["cust"], weights=e["written"], minlength=n_cust).astype(np.int64)
                c7 += np.bincount(e["cust"], weights=~e["written"], minlength=n_cust).astype(np.int64)
        return w7[cust_i], c7[cust_i], k14[cust_i]

    def _contact_invoices(self, t: int, c: dict) -> tuple[np.ndarray, np.ndarray]:
        """(contact row, invoice index) pairs of the open, payable invoices each contact is about."""
        n = c["cust"].size
        lens = np.array([len(x) if isinstance(x, list | tuple | np.ndarray) else 0 for x in c["lists"]])
        flat = [str(i) for x in c["lists"] if isinstance(x, list | tuple | np.ndarray) for i in x]
        rows = np.repeat(np.arange(n), lens)
        num = pd.to_numeric(pd.Series(flat, dtype=object).str.removeprefix("inv_"), errors="coerce").to_numpy()
        inv_idx = np.where(np.isnan(num), 0, num).astype(np.int64) - 1
        n_vis = int(np.searchsorted(self.inv["issue"], t, side="right"))
        good = (inv_idx >= 0) & (inv_idx < n_vis)
        good &= self.inv["cust"][np.clip(inv_idx, 0, None)] == c["cust"][rows]
        rows, inv_idx = rows[good], inv_idx[good]
        empty = np.flatnonzero(lens == 0)
        if empty.size:  # no list: every open invoice of the customer
            open_all = np.flatnonzero(self._payable(t, np.arange(n_vis)))
            o_cust = self.inv["cust"][open_all]
            for_cust = np.isin(o_cust, c["cust"][empty])
            cand = open_all[for_cust]
            # each contact row without a list takes every open invoice of its customer
            order = np.argsort(c["cust"][empty], kind="stable")
            ec = c["cust"][empty][order]
            lo = np.searchsorted(ec, self.inv["cust"][cand], side="left")
            hi = np.searchsorted(ec, self.inv["cust"][cand], side="right")
            rep = hi - lo
            r = empty[order][np.repeat(lo, rep) + (np.arange(rep.sum()) - np.repeat(np.cumsum(rep) - rep, rep))]
            rows = np.concatenate([rows, r])
            inv_idx = np.concatenate([inv_idx, np.repeat(cand, rep)])
        keep = self._payable(t, inv_idx)
        return rows[keep], inv_idx[keep]

    def _payable(self, t: int, idx: np.ndarray) -> np.ndarray:
        """Invoices a payment can still be pulled forward for: unpaid, posted, not held by a dispute."""
        inv = self.inv
        p0 = self._part0[idx]
        has = p0 >= 0
        day0 = np.where(has, self.parts["day"][np.maximum(p0, 0)], 0)
        held = inv["disputed"][idx] & (inv["d_res"][idx] > t)
        return has & (day0 > t) & ~held & ~(inv["cancelled"][idx] & (inv["cancel_day"][idx] <= t))

    def _remaining(self, t: int, idx: np.ndarray) -> np.ndarray:
        """Amount the customer still has to pay on each invoice (parts not paid by ``t``)."""
        p0 = self._part0[idx]
        amt = self.parts["amount"][p0].astype(np.float64)
        p1 = p0 + 1
        has1 = (p1 < self.parts["key"].size) & (
            self.parts["key"][np.minimum(p1, self.parts["key"].size - 1)] == idx * 2 + 1
        )
        p1 = np.minimum(p1, self.parts["key"].size - 1)
        return amt + np.where(has1 & (self.parts["day"][p1] > t), self.parts["amount"][p1], 0)

    def _accelerate(self, t: int, idx: np.ndarray, target: np.ndarray) -> None:
        """Pull invoice payments forward to ``target`` (never later than the latent day)."""
        if not idx.size:
            return
        o = np.lexsort((target, idx))
        idx, target = idx[o], target[o]
        first = np.r_[True, idx[1:] != idx[:-1]]
        idx, target = idx[first], target[first]  # earliest target per invoice
        inv = self.inv
        target = np.maximum(target, t + 1)
        target = np.maximum(target, inv["due"][idx].astype(np.int64))  # payables go out on the due date at the earliest
        target = np.where(inv["has_cn"][idx], np.maximum(target, inv["cn_day"][idx].astype(np.int64) + 1), target)
        p0 = self._part0[idx]
        old = self.parts["day"][p0].astype(np.int64)
        new = np.minimum(old, target)
        moved = new < old
        idx, p0, old, new = idx[moved], p0[moved], old[moved], new[moved]
        if not idx.size:
            return
        self.parts["day"][p0] = new
        p1 = np.minimum(p0 + 1, self.parts["key"].size - 1)
        has1 = (self.parts["key"][p1] == idx * 2 + 1) & (self.parts["day"][p1] < NEVER)
        gap = np.where(old < NEVER, self.parts["day"][p1].astype(np.int64) - old, 30)
        self.parts["day"][p1[has1]] = np.maximum(new[has1] + gap[has1], new[has1] + 1)
        claim = self._claim_row[idx]
        cr = claim[claim >= 0]
        if cr.size:
            self.inter["day"][cr] = self.parts["day"][self._part0[self.inter["inv"][cr]]]
            ci = self.cont["debtor_idx"][inv["cust"][self.inter["inv"][cr]]]
            self._inter_ts[cr] = W._local_to_utc(
                self.inter["day"][cr], self.inter["local_sec"][cr], self.cont["tz_idx"][ci], self._zones
            )
        self._refresh_values(np.unique(inv["cust"][idx]))

    def _open_disputes(
        self,
        t: int,
        rows: np.ndarray,
        inv_idx: np.ndarray,
        remaining: np.ndarray,
        dispute: np.ndarray,
        react_ts: np.ndarray,
        cust_i: np.ndarray,
        rank: np.ndarray,
        ch: np.ndarray,
    ) -> np.ndarray:
        """Open a dispute on the largest contacted invoice of each disputing contact."""
        inv = self.inv
        m = dispute[rows] & ~inv["disputed"][inv_idx]
        r, i, amt = rows[m], inv_idx[m], remaining[m]
        o = np.lexsort((i, -amt, r))
        r, i = r[o], i[o]
        first = np.r_[True, r[1:] != r[:-1]] if r.size else np.zeros(0, bool)
        r, i = r[first], i[first]
        r_u, keep = np.unique(i, return_index=True)  # one dispute per invoice
        r, i = r[keep], r_u
        opened = np.zeros(dispute.size, dtype=bool)
        opened[r] = True
        if not i.size:
            return opened
        seed = self.cfg.seed
        ts = react_ts[r]
        u_res = keyed_uniform(seed, U_DISPUTE_RES, cust_i[r], t, ch[r], rank[r])
        resolved = u_res < 0.85
        d_res = np.where(resolved, t + 3 + (u_res / 0.85 * 58).astype(np.int64), NEVER)
        inv["disputed"][i] = True
        inv["d_open"][i] = ts // DAY
        inv["d_open_sec"][i] = ts % DAY
        inv["d_res"][i] = d_res
        inv["d_res_sec"][i] = 13 * 3600 + (u_res * 1e6).astype(np.int64) % 36000
        u_reason = keyed_uniform(seed, U_REASON, i, t)
        inv["reason"][i] = np.searchsorted(np.cumsum([0.3, 0.2, 0.15, 0.15, 0.1, 0.1]), u_reason, side="right").clip(
            0, len(P.DISPUTE_REASONS) - 1
        )
        # the customer pays, if at all, after the resolution
        p0 = self._part0[i]
        later = np.where(d_res < NEVER, d_res + 1 + (u_res * 997).astype(np.int64) % 10, NEVER)
        self.parts["day"][p0] = np.maximum(self.parts["day"][p0], later).clip(None, NEVER)
        p1 = np.minimum(p0 + 1, self.parts["key"].size - 1)
        has1 = (self.parts["key"][p1] == i * 2 + 1) & (self.parts["day"][p1] < NEVER)
        self.parts["day"][p1[has1]] = np.maximum(self.parts["day"][p1[has1]], self.parts["day"][p0[has1]] + 7)
        self._refresh_values(np.unique(inv["cust"][i]))
        return opened

    def _record(
        self,
        t: int,
        c: dict,
        outcome: np.ndarray,
        promise: np.ndarray,
        promised_day: np.ndarray,
        promised_amt: np.ndarray,
        complaint: np.ndarray,
        react_ts: np.ndarray,
    ) -> None:
        """Log the outbound contacts (and complaints as inbound replies) as CRM interactions."""
        n = outcome.size
        ci = np.flatnonzero(complaint)
        cust_i = np.concatenate([c["cust"], c["cust"][ci]])
        contact = np.concatenate([c["contact"], c["contact"][ci]])
        ch = np.concatenate([c["ch"], c["ch"][ci]])
        ts = np.concatenate([c["ts"], react_ts[ci] + 600])
        out = np.concatenate([outcome, np.full(ci.size, W.O_REPLIED, np.int8)])
        inbound = np.concatenate([np.zeros(n, bool), np.ones(ci.size, bool)])
        no_promise = ~np.concatenate([promise, np.zeros(ci.size, bool)])
        p_day = np.concatenate([promised_day, np.zeros(ci.size, np.int64)])
        p_amt = np.concatenate([promised_amt, np.zeros(ci.size, np.int64)])
        seq = np.arange(cust_i.size) + 1
        ymd = self._date(t).strftime("%Y%m%d")
        table = W._table(
            contracts.INTERACTIONS,
            {
                "interaction_id": W._join(f"int_s{ymd}_", W._pad(seq, 6)),
                "customer_id": self._v_all.cust(cust_i),
                "contact_id": W._ids("CT", contact + 1, 7),
                "channel": W._pick(W.INTERACTION_CHANNELS, ch),
                "direction": W._pick(("outbound", "inbound"), inbound.astype(np.int8)),
                "occurred_at": W._ts_array(ts),
                "outcome": W._pick(W.OUTCOMES, out),
                "promised_date": W._date_array(np.where(no_promise, 0, p_day), no_promise),
                "promised_amount": W.money_array(p_amt, no_promise),
            },
        )
        self._policy.append((t, table))

    # ------------------------------------------------------------------------------------------
    # the day's raw rows

    def _day_rows(self, t: int, counters: dict[str, int]) -> DayResult:
        lo, hi = t * DAY, (t + 1) * DAY
        v = self._visible(t)
        tables: dict[str, pa.Table] = {}

        cust, cont = self.cust, self.cont
        for name, table in W._party_tables(v, cust, cont):
            if name == contracts.CONTACTS.table:
                table = self._apply_optouts(table, v)
            if not name.startswith(W.TRUTH_PREFIX):
                tables[name] = _in_window(table, "updated_at", lo, hi)

        # bank lines booked today, allocations recorded today (parts paid in the last weeks)
        win = (self.parts["day"] >= t - WINDOW_DAYS) & (self.parts["day"] <= t)
        sub = self._active(win)
        o_win = (self.other["day"] >= t - WINDOW_DAYS) & (self.other["day"] <= t)
        other = {k: a[o_win] for k, a in self.other.items()}
        tr = W._transfers(sub, self.inv, cust)
        lines = W._number_lines(tr, other, t)
        lines["visible"] = lines["visible"][lines["booking"][lines["visible"]] == t]
        bank = dict(W._bank_tables(v, cust, self.inv, sub, tr, other, lines))
        statement = bank[contracts.STATEMENT_LINES.table]
        tables[contracts.STATEMENT_LINES.table] = statement
        alloc_t, alloc = W._allocation_table(v, self.inv, sub, tr, lines)
        today = alloc["ts"] >= lo
        tables[contracts.PAYMENT_ALLOCATIONS.table] = alloc_t.filter(pa.array(today))
        a_inv = alloc["inv"][today]
        self._paid_rec += np.bincount(a_inv, weights=alloc["amount"][today], minlength=self._paid_rec.size).astype(
            np.int64
        )
        np.maximum.at(self._last_rec, a_inv, alloc["ts"][today])

        inv = self.inv
        n_vis = int(np.searchsorted(inv["issue"], t, side="right"))
        iv = slice(0, n_vis)
        issue_ts = inv["issue"][iv].astype(np.int64) * DAY + inv["issue_sec"][iv]
        cancel_ts = inv["cancel_day"][iv].astype(np.int64) * DAY + inv["cancel_sec"][iv]
        cn_ts = inv["cn_day"][iv].astype(np.int64) * DAY + inv["cn_sec"][iv]
        open_ts = inv["d_open"][iv].astype(np.int64) * DAY + inv["d_open_sec"][iv]
        res_ts = inv["d_res"][iv].astype(np.int64) * DAY + inv["d_res_sec"][iv]

        def within(x: np.ndarray) -> np.ndarray:
            return (x >= lo) & (x < hi)

        changed = within(issue_ts) | (inv["cancelled"][iv] & within(cancel_ts)) | (inv["has_cn"][iv] & within(cn_ts))
        changed[a_inv] = True
        tables[contracts.INVOICES.table] = self._invoice_rows(v, np.flatnonzero(changed))
        tables[contracts.CREDIT_NOTES.table] = self._credit_note_rows(
            v, np.flatnonzero(inv["has_cn"][iv] & within(cn_ts))
        )
        disp = inv["disputed"][iv] & (within(open_ts) | within(res_ts))
        tables[contracts.DISPUTES.table] = self._dispute_rows(v, np.flatnonzero(disp))
        n_opened = int((inv["disputed"][iv] & within(open_ts)).sum())

        world_rows = np.flatnonzero(within(self._inter_ts) & (self.inter["inv"] < n_vis))
        inter = self._interaction_rows(v, world_rows)
        policy = [_in_window(p, "occurred_at", lo, hi) for d, p in self._policy if d >= t - 1]
        tables[contracts.INTERACTIONS.table] = _sort_interactions(pa.concat_tables([inter, *policy]))

        truth_lines = bank[W.TRUTH_PREFIX + "bank_lines"]
        cust_pay = statement.filter(pc.equal(truth_lines["kind"].combine_chunks(), "customer_payment"))
        counts: dict[str, int] = {}
        amounts: dict[str, Decimal] = {}
        if cust_pay.num_rows:
            grouped = cust_pay.group_by("currency").aggregate([("amount", "sum"), ("amount", "count")])
            for row in grouped.to_pylist():
                counts[row["currency"]] = int(row["amount_count"])
                amounts[row["currency"]] = Decimal(row["amount_sum"])
        ordered = {s.table: tables[s.table].to_pandas() for s in contracts.ALL_STREAMS}
        return DayResult(
            day=self._date(t),
            tables=ordered,
            disputes=n_opened,
            payments_count=counts,
            payments_amount=amounts,
            **counters,
        )

    def _apply_optouts(self, table: pa.Table, v: W._Visible) -> pa.Table:
        cont = self.cont
        created = cont["created_day"].astype(np.int64) * DAY + cont["created_sec"]
        kv = np.flatnonzero(created < v.cutoff)
        opt = self._optout_ts[kv]
        names = ("consent_email", "consent_whatsapp", "consent_sms", "consent_call")
        consent = np.stack([table[n].to_numpy(zero_copy_only=False) for n in names], axis=1).astype(bool)
        withdrawn = consent & (opt < v.cutoff)
        if not withdrawn.any():
            return table
        updated = table["updated_at"].cast(pa.int64()).to_numpy() // 1_000_000
        last = np.where(withdrawn, opt, 0).max(axis=1)
        for j, n in enumerate(names):
            table = table.set_column(
                table.schema.get_field_index(n), table.schema.field(n), pa.array(consent[:, j] & ~withdrawn[:, j])
            )
        i = table.schema.get_field_index("updated_at")
        return table.set_column(i, table.schema.field(i), W._ts_array(np.maximum(updated, last)))

    def _invoice_rows(self, v: W._Visible, idx: np.ndarray) -> pa.Table:
        """``raw_erp.invoices`` rows of ``idx`` as the ERP has them at the end of the day."""
        inv = self.inv
        c = inv["cust"][idx]
        issue_ts = inv["issue"][idx].astype(np.int64) * DAY + inv["issue_sec"][idx]
        cancel_ts = inv["cancel_day"][idx].astype(np.int64) * DAY + inv["cancel_sec"][idx]
        cn_ts = inv["cn_day"][idx].astype(np.int64) * DAY + inv["cn_sec"][idx]
        cancel_vis = inv["cancelled"][idx] & (cancel_ts < v.cutoff)
        cn_vis = inv["has_cn"][idx] & (cn_ts < v.cutoff)
        amount_open = inv["total"][idx] - np.where(cn_vis, inv["cn_amt"][idx], 0) - self._paid_rec[idx]
        amount_open = np.where(cancel_vis, 0, amount_open)
        updated = np.where(cancel_vis, np.maximum(issue_ts, cancel_ts), issue_ts)
        updated = np.where(cn_vis, np.maximum(updated, cn_ts), updated)
        updated = np.maximum(updated, self._last_rec[idx])
        return W._table(
            contracts.INVOICES,
            {
                "invoice_id": v.invoice(idx),
                "number": v.numbers.take(pa.array(idx)),
                "customer_id": v.cust(c),
                "issue_date": W._date_array(inv["issue"][idx]),
                "due_date": W._date_array(inv["due"][idx]),
                "currency": v.currency_of(c),
                "amount_total": W.money_array(inv["total"][idx]),
                "amount_open": W.money_array(amount_open),
                "status": W._pick(("posted", "cancelled"), cancel_vis.astype(np.int8)),
                "payment_reference": W._str_array(v.rf.take(pa.array(idx)), ~v.uses_rf[c]),
                "delivery_method": pa.nulls(len(idx), pa.string()),
                **W.invoice_erp_attributes(self.cfg.seed, self.cust, idx, c),
                "updated_at": W._ts_array(updated),
            },
        )

    def _credit_note_rows(self, v: W._Visible, idx: np.ndarray) -> pa.Table:
        inv = self.inv
        c = inv["cust"][idx]
        return W._table(
            contracts.CREDIT_NOTES,
            {
                "credit_note_id": W._ids("cn_", idx + 1, 8),
                "number": self._cn_number.take(pa.array(self._cn_pos[idx])),
                "customer_id": v.cust(c),
                "invoice_id": v.invoice(idx),
                "issue_date": W._date_array(inv["cn_day"][idx]),
                "currency": v.currency_of(c),
                "amount_total": W.money_array(inv["cn_amt"][idx]),
                "status": W._pick(("posted",), np.zeros(idx.size, np.int8)),
                "updated_at": W._ts_array(inv["cn_day"][idx].astype(np.int64) * DAY + inv["cn_sec"][idx]),
            },
        )

    def _dispute_rows(self, v: W._Visible, di: np.ndarray) -> pa.Table:
        inv = self.inv
        open_ts = inv["d_open"][di].astype(np.int64) * DAY + inv["d_open_sec"][di]
        res_ts = inv["d_res"][di].astype(np.int64) * DAY + inv["d_res_sec"][di]
        res_vis = res_ts < v.cutoff
        return W._table(
            contracts.DISPUTES,
            {
                "dispute_id": W._ids("dsp_", di + 1, 8),
                "invoice_id": v.invoice(di),
                "customer_id": v.cust(inv["cust"][di]),
                "opened_at": W._ts_array(open_ts),
                "resolved_at": W._ts_array(res_ts, ~res_vis),
                "status": W._pick(("open", "resolved"), res_vis.astype(np.int8)),
                "reason": W._pick(P.DISPUTE_REASONS, inv["reason"][di]),
                "updated_at": W._ts_array(np.where(res_vis, res_ts, open_ts)),
            },
        )

    def _interaction_rows(self, v: W._Visible, iv: np.ndarray) -> pa.Table:
        inter = self.inter
        ts = self._inter_ts
        key = inter["inv"][iv] * 10 + inter["k"][iv]
        o = iv[np.lexsort((key, ts[iv]))]
        i_cust = self.inv["cust"][inter["inv"][o]]
        contact = self.cont["debtor_idx"][i_cust]
        no_promise = inter["promised"][o] >= NEVER
        return W._table(
            contracts.INTERACTIONS,
            {
                "interaction_id": W._ids("int_", inter["inv"][o] * 10 + inter["k"][o] + 10, 10),
                "customer_id": v.cust(i_cust),
                "contact_id": W._ids("CT", contact + 1, 7),
                "channel": W._pick(W.INTERACTION_CHANNELS, inter["channel"][o]),
                "direction": W._pick(("outbound", "inbound"), inter["inbound"][o].astype(np.int8)),
                "occurred_at": W._ts_array(ts[o]),
                "outcome": W._pick(W.OUTCOMES, inter["outcome"][o]),
                "promised_date": W._date_array(np.where(no_promise, 0, inter["promised"][o]), no_promise),
                "promised_amount": W.money_array(inter["promised_amt"][o], no_promise),
            },
        )

    # ------------------------------------------------------------------------------------------
    # full snapshot

    def _full_tables(self, cfg: W.WorldConfig):  # noqa: ANN202 - generator of (name, table)
        """Every raw and truth table at ``cfg.as_of``, in ``iter_world``'s order."""
        t = W._day(cfg.as_of)
        n_vis = int(np.searchsorted(self.inv["issue"], t, side="right"))
        inv = {k: a[:n_vis] for k, a in self.inv.items()}
        parts = self._active(self.parts["inv"] < n_vis)
        parts.pop("_idx")
        keep = self.inter["inv"] < n_vis
        inter = {k: a[keep] for k, a in self.inter.items()}
        v = W._Visible(cfg, self.cust)
        v.invoice_keys(inv)
        for name, table in W._party_tables(v, self.cust, self.cont):
            if name == contracts.CONTACTS.table:
                table = self._apply_optouts(table, v)
            yield name, table
        # world rows (their instants already moved with accelerated payments) + policy rows
        world_inter = self._interaction_rows(v, np.flatnonzero(keep & (self._inter_ts < v.cutoff)))
        del inter
        policy = [_in_window(p, "occurred_at", 0, v.cutoff) for _, p in self._policy]
        yield contracts.INTERACTIONS.table, _sort_interactions(pa.concat_tables([world_inter, *policy]))
        tr = W._transfers(parts, inv, self.cust)
        lines = W._number_lines(tr, self.other, v.day)
        yield from W._bank_tables(v, self.cust, inv, parts, tr, self.other, lines)
        allocations, alloc = W._allocation_table(v, inv, parts, tr, lines)
        yield contracts.PAYMENT_ALLOCATIONS.table, allocations
        yield from W._erp_tables(v, inv, alloc)


def _in_window(table: pa.Table, column: str, lo: int, hi: int) -> pa.Table:
    secs = table[column].cast(pa.int64()).to_numpy() // 1_000_000
    return table.filter(pa.array((secs >= lo) & (secs < hi)))


def _sort_interactions(table: pa.Table) -> pa.Table:
    """Order by instant then id (the world's own order: its ids sort numerically)."""
    return table.sort_by([("occurred_at", "ascending"), ("interaction_id", "ascending")])
