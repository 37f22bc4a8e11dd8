"""Reaction driver: the simulated debtors answer the messages the channel emulators received, on a clock.

``simulator.stepping.Market.advance`` reacts to a whole UTC day of contacts at once, after the day.
A live service needs the reactions *during* the day: a debtor who gets a WhatsApp reminder at 10:00
may promise to pay at 11:40, and that reply must reach the webhook receiver at 11:40 of the
(accelerated) clock so the inbound flow can cancel the contacts still queued for that customer.

:class:`ReactionDriver` drives a market intra-day, seeded and deterministic given what was sent when:

- :meth:`ReactionDriver.open_day` starts the next UTC day; :meth:`ReactionDriver.contacts_sent`
  hands the market the messages the emulators received since the last call (the same reaction
  model as ``Market.advance``: the draws are keyed on customer, day, channel and the contact's rank
  in its batch, and the contacts already made today count in the fatigue through the market's
  history); :meth:`ReactionDriver.close_day` produces the day's raw rows (``DayResult``);
- every reaction becomes an :class:`Inbound` message, due at the instant the model drew for it:
  a promise to pay (with its date), a dispute, a "we paid" claim, a plain reply, or an opt-out
  ("STOP" on WhatsApp/SMS, the one-click unsubscribe link of an e-mail), in the contact's language;
  :meth:`ReactionDriver.due` pops the messages due by a clock instant;
- :meth:`ReactionDriver.bank_lines` gives the statement lines the bank books during the open day
  (they do not depend on that day's contacts: a contact pulls a payment forward to the next day at
  the earliest), each with the instant it shows up in the bank's intraday report.

E-mail has no inbound webhook in the product (replies to an e-mail reach the CRM), so an e-mail's
promise, dispute or reply stays in the CRM's interactions the next day (as with ``advance``); only
its opt-out travels, through the unsubscribe link. Nothing here imports the product: the emulators
are other people's systems and the debtors are the simulator's.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from connectors import contracts
from simulator import stepping as S
from simulator import world as W

#: Reply texts per kind and language; ``{date}`` is an ISO date (read by ``ml.inbound.replies``).
TEXTS: dict[str, dict[str, tuple[str, ...]]] = {
    "promise": {
        "es": ("Buenos días, pagaremos el {date}.", "Hola, realizaremos el pago el {date}, gracias."),
        "en": ("Hello, we will pay on {date}.", "Thanks for the reminder, payment will be made on {date}."),
        "pt": ("Bom dia, vamos pagar em {date}.", "Olá, faremos o pagamento em {date}."),
    },
    "dispute": {
        "es": ("No reconocemos esta factura, el monto es incorrecto.", "Hay un error en la factura, no corresponde."),
        "en": (
            "We do not recognise this invoice, the amount is wrong.",
            "Wrong amount on this invoice.",
        ),
        "pt": ("Não reconhecemos esta fatura, há um erro na fatura.", "Contestamos a fatura, o valor está errado."),
    },
    "paid_claim": {
        "es": ("Ya pagamos esa factura, revisen por favor.", "Pago ya realizado la semana pasada."),
        "en": ("We already paid this invoice.", "Payment was sent last week, please check."),
        "pt": ("Já pagamos essa fatura.", "Pagamento já realizado, verifiquem por favor."),
    },
    "reply": {
        "es": ("Recibido, gracias. Lo revisamos con tesorería.",),
        "en": ("Received, thanks. We are checking with treasury.",),
        "pt": ("Recebido, obrigado. Vamos verificar com a tesouraria.",),
    },
    "opt_out": {"es": ("BAJA",), "en": ("STOP",), "pt": ("STOP",)},
}
#: Kinds the product must act on before the next contact (the cancellation latency is measured on these).
ACTIONABLE = ("promise", "dispute", "paid_claim", "opt_out")
#: Window (UTC hours of the booking day) in which a bank line shows up in the intraday report.
BANK_HOURS_UTC = (11, 23)  # 05:00-17:00 in Mexico City

_U_KIND = 91
_U_TEXT = 92
_U_BANK = 93


@dataclass(order=True)
class Inbound:
    """One message a debtor sends (or one click), due at ``at``.

    Attributes:
        at: When it is sent (UTC, on the simulated clock).
        seq: Tie-breaker (order of creation).
        customer_id: The customer.
        contact_id: The contact writing.
        channel: ``whatsapp``, ``sms`` or ``email`` (e-mail: opt-out clicks only).
        kind: ``promise``, ``dispute``, ``paid_claim``, ``reply`` or ``opt_out``.
        text: The message text (empty for an unsubscribe click).
        task_id: The outbox task whose message it answers.
        promised_date: The date named by a promise.
    """

    at: datetime
    seq: int
    customer_id: str = field(compare=False)
    contact_id: str = field(compare=False)
    channel: str = field(compare=False)
    kind: str = field(compare=False)
    text: str = field(compare=False)
    task_id: str | None = field(compare=False, default=None)
    promised_date: date | None = field(compare=False, default=None)


@dataclass
class _Day:
    t: int
    counters: dict[str, int]
    interactions: int = 0


class ReactionDriver:
    """Drives a :class:`simulator.stepping.Market` through the day, contact batch by contact batch.

    Args:
        market: An opened market (``open_market``), at the end of the day before the first one driven.
        seed: Seed of the text choices and the bank arrival instants (the reactions use the market's).
    """

    def __init__(self, market: S.Market, seed: int = 18) -> None:
        self.market = market
        self.seed = seed
        self._day: _Day | None = None
        self._queue: list[Inbound] = []
        self._seq = 0
        self.sent: list[Inbound] = []
        self.reactions: list[dict] = []

    # --- the day ------------------------------------------------------------------------------------

    @property
    def today(self) -> date:
        """The UTC day being simulated (or the last one closed)."""
        return self.market.today

    @property
    def is_open(self) -> bool:
        """Whether a day is open."""
        return self._day is not None

    def open_day(self) -> date:
        """Start simulating the next UTC day; return it.

        Raises:
            RuntimeError: A day is already open.
            ValueError: The market's generated horizon is exhausted.
        """
        if self._day is not None:
            raise RuntimeError(f"day {self.today} is still open: close_day() first")
        m = self.market
        t = m._day + 1
        if t > m._last_day:
            raise ValueError(
                f"the market was generated up to {m._date(m._last_day)}; open it with a larger horizon_days"
            )
        m._day = t
        self._day = _Day(t, {"contacts": 0, "bounces": 0, "replies": 0, "promises": 0, "opt_outs": 0, "complaints": 0})
        return self.today

    def contacts_sent(self, sent: pd.DataFrame) -> list[Inbound]:
        """The market reacts to contacts received since the last call; their replies are queued.

        Args:
            sent: One row per message the providers received: ``customer_id``, ``contact_id``,
                ``channel`` (email, whatsapp, sms, call_task), ``scheduled_at`` (UTC instant received,
                inside the open day), ``invoice_ids``, ``task_id``, ``language``.

        Returns:
            The inbound messages queued for these contacts (also kept in :attr:`sent` once due).

        Raises:
            RuntimeError: No day is open.
        """
        if self._day is None:
            raise RuntimeError("no day is open: open_day() first")
        if sent is None or sent.empty:
            return []
        m, d = self.market, self._day
        frame = sent.reset_index(drop=True)
        before_optouts = m._optout_ts.copy()
        n_policy = len(m._policy)
        counters = m._react(d.t, frame[["customer_id", "contact_id", "channel", "scheduled_at", "invoice_ids"]])
        for k, v in counters.items():
            d.counters[k] = d.counters.get(k, 0) + v
        table = self._renumber(m._policy[n_policy][1]) if len(m._policy) > n_policy else None
        if table is not None:
            m._policy[n_policy] = (d.t, table)
        return self._queue_replies(frame, table, before_optouts)

    def spontaneous_disputes(self, language: dict[str, str] | None = None) -> list[Inbound]:
        """Queue a WhatsApp message for each dispute the world's timeline opens today (not caused by a contact).

        Call right after :meth:`open_day`. Only contacts with a mobile phone write (the others would
        e-mail, which reaches the CRM). ``language`` maps customer ids to their language (default es).
        """
        if self._day is None:
            raise RuntimeError("no day is open: open_day() first")
        m, t = self.market, self._day.t
        inv = m.inv
        idx = np.flatnonzero(inv["disputed"] & (inv["d_open"] == t))
        cust_i = np.unique(inv["cust"][idx])
        contact = m.cont["debtor_idx"][cust_i]
        mobile = m.cont["has_phone"][contact] & m.cont["mobile"][contact]
        cust_i, contact = cust_i[mobile], contact[mobile]
        first = {}
        for i in idx:
            first.setdefault(int(inv["cust"][i]), int(inv["d_open_sec"][i]))
        u_text = S.keyed_uniform(self.seed, _U_TEXT, cust_i, t, 99)
        rows = pd.DataFrame(
            {
                "customer_id": m._v_all.cust(cust_i).to_numpy(zero_copy_only=False),
                "contact_id": W._ids("CT", contact + 1, 7).to_numpy(zero_copy_only=False),
            }
        )
        rows["language"] = rows["customer_id"].map(language or {}).fillna("es")
        queued = [
            self._inbound(rows, j, int(t) * 86400 + first[int(c)], "whatsapp", "dispute", u_text[j], None)
            for j, c in enumerate(cust_i)
        ]
        for item in queued:
            heapq.heappush(self._queue, item)
        return queued

    def close_day(self) -> S.DayResult:
        """Finish the open day: its raw rows and counters (as ``Market.advance`` returns them)."""
        if self._day is None:
            raise RuntimeError("no day is open")
        d, self._day = self._day, None
        return self.market._day_rows(d.t, d.counters)

    # --- replies ------------------------------------------------------------------------------------

    def _renumber(self, table: pa.Table) -> pa.Table:
        """Interaction ids unique over the day's batches (``_record`` numbers each call from 1)."""
        d = self._day
        assert d is not None
        ymd = self.market._date(d.t).strftime("%Y%m%d")
        seq = np.arange(table.num_rows) + 1 + d.interactions
        d.interactions += table.num_rows
        ids = pa.array([f"int_s{ymd}_{s:07d}" for s in seq])
        i = table.schema.get_field_index("interaction_id")
        return table.set_column(i, table.schema.field(i), ids)

    def _queue_replies(self, frame: pd.DataFrame, table: pa.Table | None, before_optouts: np.ndarray) -> list[Inbound]:
        if table is None:
            return []
        m, d = self.market, self._day
        assert d is not None
        out_rows = table.filter(pc.equal(table["direction"], "outbound")).to_pandas()
        # The market sorted the batch by (customer, instant, channel): line our rows up the same way.
        ch = frame["channel"].astype(str).str.lower().replace({"call_task": "call"})
        ts = pd.to_datetime(frame["scheduled_at"], utc=True)
        order = pd.DataFrame(
            {"cust": frame["customer_id"].astype(str), "ts": ts, "ch": ch.map({c: i for i, c in enumerate(S.CHANNELS)})}
        )
        o = np.lexsort((order["ch"].to_numpy(), order["ts"].to_numpy(), order["cust"].to_numpy()))
        rows = frame.iloc[o].reset_index(drop=True)
        if len(rows) != len(out_rows):
            raise RuntimeError(f"market logged {len(out_rows)} contacts for a batch of {len(rows)}")
        cust_i = pd.to_numeric(rows["customer_id"].astype(str).str[1:]).to_numpy().astype(np.int64) - 1
        first = np.r_[True, cust_i[1:] != cust_i[:-1]]
        start = np.maximum.accumulate(np.where(first, np.arange(len(rows)), 0))
        rank = np.arange(len(rows)) - start
        chi = order["ch"].to_numpy()[o].astype(np.int64)
        sent_s = ts.dt.tz_convert(None).to_numpy()[o].astype("datetime64[s]").astype(np.int64)
        react_s = (
            sent_s
            + 60
            + (S.keyed_uniform(m.cfg.seed, S.U_REACT_SEC, cust_i, d.t, chi, rank) * 4 * 3600).astype(np.int64)
        )
        u_kind = S.keyed_uniform(self.seed, _U_KIND, cust_i, d.t, chi, rank)
        u_text = S.keyed_uniform(self.seed, _U_TEXT, cust_i, d.t, chi, rank)
        contact_i = pd.to_numeric(rows["contact_id"].astype(str).str.removeprefix("CT")).to_numpy().astype(np.int64) - 1
        queued: list[Inbound] = []
        for j in range(len(rows)):
            outcome = out_rows["outcome"].iat[j]
            channel = S.CHANNELS[chi[j]]
            kind = {"promise_to_pay": "promise", "dispute": "dispute", "replied": "reply"}.get(outcome)
            if kind == "reply" and u_kind[j] < 0.35:
                kind = "paid_claim"
            optout = m._optout_ts[contact_i[j], chi[j]]
            if optout != before_optouts[contact_i[j], chi[j]]:
                queued.append(self._inbound(rows, j, int(optout), channel, "opt_out", u_text[j], None))
            if kind is None or channel not in ("whatsapp", "sms"):
                continue  # e-mail replies reach the CRM, calls are conversations: no webhook
            promised = out_rows["promised_date"].iat[j] if kind == "promise" else None
            promised = None if promised is None or pd.isna(promised) else pd.Timestamp(promised).date()
            queued.append(self._inbound(rows, j, int(react_s[j]), channel, kind, u_text[j], promised))
        for item in queued:
            heapq.heappush(self._queue, item)
        self.reactions.extend(
            {"customer_id": q.customer_id, "kind": q.kind, "channel": q.channel, "at": q.at} for q in queued
        )
        return queued

    def _inbound(
        self, rows: pd.DataFrame, j: int, at_s: int, channel: str, kind: str, u: float, promised: date | None
    ) -> Inbound:
        lang = str(rows["language"].iat[j] or "es")[:2] if "language" in rows else "es"
        options = TEXTS[kind].get(lang, TEXTS[kind]["es"])
        text = options[int(u * len(options)) % len(options)]
        if kind == "promise":
            text = text.format(date=(promised or self.today + timedelta(days=7)).isoformat())
        if kind == "opt_out" and channel == "email":
            text = ""
        self._seq += 1
        return Inbound(
            at=datetime.fromtimestamp(at_s, UTC),
            seq=self._seq,
            customer_id=str(rows["customer_id"].iat[j]),
            contact_id=str(rows["contact_id"].iat[j]),
            channel=channel,
            kind=kind,
            text=text,
            task_id=str(rows["task_id"].iat[j]) if "task_id" in rows else None,
            promised_date=promised,
        )

    def due(self, until: datetime) -> list[Inbound]:
        """Pop the queued messages due at or before ``until`` (in time order)."""
        out = []
        while self._queue and self._queue[0].at <= until:
            item = heapq.heappop(self._queue)
            out.append(item)
            self.sent.append(item)
        return out

    def next_at(self) -> datetime | None:
        """The instant of the next queued message (``None``: nothing queued); a harness jumps its clock to it."""
        return self._queue[0].at if self._queue else None

    def pending(self) -> int:
        """Messages queued and not yet due."""
        return len(self._queue)

    # --- the bank -----------------------------------------------------------------------------------

    def bank_lines(self) -> pd.DataFrame:
        """Statement lines booked during the open day, with ``arrives_at`` (UTC) in the intraday report.

        The same rows ``close_day`` will report in ``raw_bank.statement_lines`` (the day's contacts
        cannot add to them), plus ``customer_id`` and ``invoice_ids`` from the world's truth (what a
        customer payment pays; empty for fees and other lines): for evaluation only.

        Raises:
            RuntimeError: No day is open.
        """
        if self._day is None:
            raise RuntimeError("no day is open: open_day() first")
        m, t = self.market, self._day.t
        v = m._visible(t)
        win = (m.parts["day"] >= t - S.WINDOW_DAYS) & (m.parts["day"] <= t)
        sub = m._active(win)
        o_win = (m.other["day"] >= t - S.WINDOW_DAYS) & (m.other["day"] <= t)
        other = {k: a[o_win] for k, a in m.other.items()}
        tr = W._transfers(sub, m.inv, m.cust)
        lines = W._number_lines(tr, other, t)
        lines["visible"] = lines["visible"][lines["booking"][lines["visible"]] == t]
        bank = dict(W._bank_tables(v, m.cust, m.inv, sub, tr, other, lines))
        statement = bank[contracts.STATEMENT_LINES.table].to_pandas()
        links = bank.get(W.TRUTH_PREFIX + "bank_line_invoices")
        if links is not None and links.num_rows:
            lk = links.to_pandas()
            inv_col = "invoice_id" if "invoice_id" in lk else lk.columns[1]
            per_line = lk.groupby("bank_txn_id")[inv_col].agg(lambda s: sorted(set(map(str, s))))
            statement["invoice_ids"] = statement["bank_txn_id"].map(per_line)
        else:
            statement["invoice_ids"] = None
        statement["invoice_ids"] = statement["invoice_ids"].map(lambda x: x if isinstance(x, list) else [])
        lo, hi = BANK_HOURS_UTC
        u = S.keyed_uniform(
            self.seed, _U_BANK, pd.util.hash_pandas_object(statement["bank_txn_id"], index=False).to_numpy(), t
        )
        day0 = datetime.combine(m._date(t), datetime.min.time(), tzinfo=UTC)
        statement["arrives_at"] = [day0 + timedelta(seconds=int(lo * 3600 + x * (hi - lo) * 3600)) for x in u]
        return statement.sort_values(["arrives_at", "bank_txn_id"]).reset_index(drop=True)
