"""What the agent does with one inbound message: a pure function of the reading and the customer's context.

:func:`decide` takes the reader's :class:`ml.inbound.reader.Reading` and an :class:`AgentContext` (who
wrote, whether the address is that customer's verified contact, the statement of account from the
published warehouse copy, a payment seen in the bank, the plan offered last, the portal links) and
returns an :class:`AgentDecision`: the reply to send on the channel the message came from (or none),
the human task to open (or none) and what to record. It does no I/O, so the same rules are tested
without a server and applied by ``flows/agent.py`` on the live store.

Rules, in order:

1. **Unknown sender** (no customer, or the address is not one of that customer's contacts): no data
   is disclosed; a person takes it (``handoff``).
2. **A pending plan offer and an acceptance** ("acepto", "accept", "aceito", alone or with the count):
   the plan is recomputed from the policy (:func:`ml.nba.plans.accept`, never the amounts in a
   message), recorded, confirmed; its first instalment is recorded as a promise, so a missed
   instalment is a broken promise and dunning resumes with escalation (``ml.nba.engine``).
3. **Opt-out**: consent is withdrawn by ``ml.inbound.optouts`` the moment the message lands; the agent
   confirms once per address and scope, never again.
4. **Dispute**: acknowledged, and a dispute case with the invoices named goes to the human queue
   (the reply stops the customer's queued contacts; the next decision routes the account to review).
5. **Hand-offs** (legal or complaint, hardship, wrong contact or third party, unclear, low confidence,
   abusive text, text addressed to the system): no automatic answer; a human task with the reason.
6. **Statement**, **invoice copy**, **promise** (within :func:`ml.nba.plans.check_promise`; confirmed
   with the pause until date + grace), **paid claim** (found in the bank -> thanks; not found -> asks
   for the remittance and holds dunning), **plan request** (the policy's offer), **how to pay**.
7. An acknowledgement ("ok", "👍") needs no answer.

An open fraud or redirection alert on the customer (``AgentContext.alert_hold``, the early warnings'
hold, ``ml.nba.holds``) comes before 2 and 6: nothing that quotes payment details (statement,
amounts, invoice or portal links, a plan, how to pay) goes out automatically - the sender may be the
fraudster waiting for them; a person answers, with the alert's codes. Opt-outs, disputes and
acknowledgements are handled as always (they disclose nothing).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from cobranza.settings import NbaSettings
from ml.agent.messages import Writer
from ml.inbound.reader import Reading
from ml.nba import plans
from portal.statements import Statement

#: Days dunning is held after an "already paid" we cannot find in the bank: ``ml.nba.engine`` reads a
#: paid claim as active for 5 days (a literal there, no setting yet), so the reply promises no more.
PAID_CLAIM_HOLD_DAYS = 5
#: An acceptance of the plan offered (folded text: accents dropped, lower case).
_ACCEPT = re.compile(r"^\W*(si,?\s+)?(acepto|aceptamos|accept|i accept|we accept|aceito|aceitamos|ok,?\s+acepto)\b")

#: Agent actions (``agent_action`` of the interaction).
ACTIONS = (
    "statement_sent", "invoice_copy_sent", "promise_recorded", "promise_needs_date", "paid_found",
    "paid_not_found", "dispute_opened", "plan_offered", "plan_accepted", "opt_out_confirmed",
    "opt_out_already_confirmed", "how_to_pay_sent", "no_reply_needed", "handoff",
)  # fmt: skip


@dataclass(frozen=True)
class Payment:
    """A bank credit of the customer (``marts.fct_payments``)."""

    day: date
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class AgentContext:
    """What the agent knows when it answers.

    Attributes:
        channel: Where the message came from (``whatsapp``, ``sms``, ``email``): the reply goes there.
        today: The customer's business day of the message.
        statement: The customer's statement (None: the sender matches no customer).
        verified: The sender's address is one of that customer's contacts on file.
        portal_link: The customer's signed portal link (None when the portal is not configured).
        invoice_links: Invoice id -> signed link to its copy.
        payment: A recent bank credit of the customer, if any.
        plan_offer: The instalment count the agent offered last and still open (None: none).
        opt_out_confirmed: Scopes already confirmed to this address (``whatsapp``, ``all``...).
        contact_name: The contact's name, for the greeting.
        promise_grace_days: A promise pauses dunning until its date + this many days: the setting
            ``nba.promise_grace_days`` the decision engine applies (``flows/agent.py`` passes it).
        alert_hold: The reason codes of an open fraud/redirection alert on the customer
            (``hold:alert_<signal>:<id>``); empty: none.
    """

    channel: str
    today: date
    statement: Statement | None
    verified: bool
    portal_link: str | None = None
    invoice_links: dict[str, str] = field(default_factory=dict)
    payment: Payment | None = None
    plan_offer: int | None = None
    opt_out_confirmed: frozenset[str] = frozenset()
    contact_name: str | None = None
    promise_grace_days: int = NbaSettings.model_fields["promise_grace_days"].default
    alert_hold: tuple[str, ...] = ()


@dataclass(frozen=True)
class AgentDecision:
    """The agent's decision on one message.

    Attributes:
        action: One of :data:`ACTIONS`.
        reply: The text to send back on the message's channel (None: no automatic answer).
        language: The reply's language.
        handoff_reason: Why a person takes it (None: the agent handled it alone).
        invoices: Invoice ids concerned (named in a dispute or a copy request).
        promised_date: A promise's date (also a plan's first instalment).
        promised_amount: A promise's amount.
        hold_until: Dunning held until this day (promise + grace, unfound paid claim).
        plan: The plan offered or accepted (instalment count, due dates and amounts).
        record: Extra facts for the interaction log (JSON-ready).
    """

    action: str
    reply: str | None
    language: str
    handoff_reason: str | None = None
    invoices: tuple[str, ...] = ()
    promised_date: date | None = None
    promised_amount: Decimal | None = None
    hold_until: date | None = None
    plan: plans.PlanOffer | None = None
    record: dict[str, Any] = field(default_factory=dict)

    @property
    def handed_off(self) -> bool:
        """Whether a person must act on it."""
        return self.handoff_reason is not None


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    return "".join(c for c in text if not unicodedata.combining(c)).strip()


def is_acceptance(body: str) -> bool:
    """A short message accepting an offer: "acepto", "Sí, acepto", "I accept", "aceito" (<= 60 chars)."""
    return len(body) <= 60 and bool(_ACCEPT.search(_fold(body)))


def _writer(reading: Reading, st: Statement) -> Writer:
    # The customer's language on file first: "STOP" or "ok" tell no language.
    return Writer(st.language or reading.language, st.country, st.currency)


def _name(ctx: AgentContext, st: Statement) -> str:
    return ctx.contact_name or st.customer_name


def _lines(w: Writer, st: Statement, today: date) -> list[dict[str, Any]]:
    return [
        {
            "number": i.number,
            "due": w.day(i.due_date),
            "amount": w.money(i.amount_open, i.currency),
            "overdue": i.due_date < today,
            "days": (today - i.due_date).days,
            "disputed": i.is_disputed,
        }
        for i in st.invoices
    ]


def _named_invoices(reading: Reading, st: Statement) -> tuple[str, ...]:
    """The customer's open invoices the message names (by id or number, ignoring case and separators)."""
    norm = {re.sub(r"[^0-9a-z]", "", r.lower()) for r in reading.invoices}
    found = []
    for i in st.invoices:
        keys = {re.sub(r"[^0-9a-z]", "", i.invoice_id.lower()), re.sub(r"[^0-9a-z]", "", i.number.lower())}
        digits = {re.sub(r"\D", "", k) for k in keys} - {""}
        if keys & norm or any(re.sub(r"\D", "", n) in digits for n in norm if re.sub(r"\D", "", n)):
            found.append(i.invoice_id)
    return tuple(found)


def _handoff(reason: str, language: str, **kw: Any) -> AgentDecision:
    return AgentDecision("handoff", None, language, handoff_reason=reason, **kw)


def _plan_for(st: Statement, today: date, count: int | None = None) -> plans.PlanOffer | None:
    """The plan the agent offers: the most instalments the policy allows (or the ``count`` accepted)."""
    balance = st.balance()
    if balance <= 0:
        return None
    if count is not None:
        try:
            return plans.accept(count, balance, st.currency, st.segment, st.risk, today)
        except plans.PolicyError:
            return None
    offers = plans.offers(balance, st.currency, st.segment, st.risk, today)
    return offers[-1] if offers else None


def decide(reading: Reading, ctx: AgentContext) -> AgentDecision:
    """The agent's decision on one message (see the module docstring for the rules)."""
    st = ctx.statement
    lang = (st.language if st else None) or reading.language or "es"
    if st is None or not ctx.verified:
        who = "no customer matches the sender" if st is None else "the sender is not a verified contact of the customer"
        return _handoff(f"unknown sender: {who}; nothing disclosed", lang)
    w = _writer(reading, st)
    lang = w.language
    name = _name(ctx, st)
    today = ctx.today

    if ctx.alert_hold and reading.intent not in ("opt_out", "dispute", "acknowledgement"):
        return _handoff(
            "open fraud/redirection alert on the customer: no payment details sent automatically; "
            f"route:alert_review ({', '.join(ctx.alert_hold)})",
            lang,
            record={"alert_hold": list(ctx.alert_hold)},
        )
    if ctx.plan_offer and is_acceptance(reading.body) and reading.intent not in ("opt_out", "dispute"):
        plan = _plan_for(st, today, ctx.plan_offer)
        if plan is None:
            return _handoff("plan acceptance no longer within policy (balance changed)", lang)
        first = plan.instalments[0]
        reply = w.render(
            "plan_accepted", name=name, count=plan.count, first=w.money(first.amount), day=w.day(first.due_date)
        )
        return AgentDecision(
            "plan_accepted",
            reply,
            lang,
            promised_date=first.due_date,
            promised_amount=first.amount,
            hold_until=first.due_date + timedelta(days=ctx.promise_grace_days),
            plan=plan,
        )

    intent = reading.intent
    if intent == "opt_out":
        scope = reading.opt_out_scope or "channel"
        scope_key = "all" if scope == "all" else ctx.channel
        if scope_key in ctx.opt_out_confirmed or "all" in ctx.opt_out_confirmed:
            return AgentDecision("opt_out_already_confirmed", None, lang, record={"scope": scope_key})
        return AgentDecision(
            "opt_out_confirmed", w.render("opt_out", channel=w.channel(scope_key)), lang, record={"scope": scope_key}
        )
    if intent == "dispute":
        named = _named_invoices(reading, st)
        numbers = ", ".join(i.number for i in st.invoices if i.invoice_id in named)
        return AgentDecision(
            "dispute_opened",
            w.render("dispute", name=name, numbers=numbers),
            lang,
            handoff_reason="dispute: a person reviews the contested invoices"
            + ("" if named else " (no invoice named: all open invoices)"),
            invoices=named or tuple(i.invoice_id for i in st.invoices),
        )
    if reading.handoff or intent not in (
        "statement_request", "invoice_copy_request", "promise_to_pay", "paid_claim", "payment_plan_request",
        "question_other", "acknowledgement",
    ):  # fmt: skip
        return _handoff(reading.reason or f"{intent.replace('_', ' ')}: a person answers", lang)

    if intent == "acknowledgement":
        return AgentDecision("no_reply_needed", None, lang)
    if intent == "statement_request":
        if not st.invoices:
            return AgentDecision("statement_sent", w.render("no_balance", name=name), lang)
        overdue = sum((i.amount_open for i in st.invoices if i.due_date < today and not i.is_disputed), Decimal(0))
        reply = w.render(
            "statement",
            name=name,
            total=w.money(st.balance()),
            overdue=w.money(overdue) if overdue else "",
            invoices=_lines(w, st, today),
            link=ctx.portal_link or "",
        )
        return AgentDecision("statement_sent", reply, lang, invoices=tuple(i.invoice_id for i in st.invoices))
    if intent == "invoice_copy_request":
        named = _named_invoices(reading, st) or tuple(i.invoice_id for i in st.invoices)
        links = [
            {"number": i.number, "link": ctx.invoice_links[i.invoice_id]}
            for i in st.invoices
            if i.invoice_id in named and ctx.invoice_links.get(i.invoice_id)
        ]
        if not links:
            return _handoff("invoice copy asked but no invoice copy link can be made (portal not configured "
                            "or the invoice is not open)", lang)  # fmt: skip
        return AgentDecision(
            "invoice_copy_sent", w.render("invoice_copy", name=name, invoices=links), lang, invoices=named
        )
    if intent == "promise_to_pay":
        if reading.promised_date is None:
            reply = w.render("promise_needs_date", name=name, max_days=plans.PROMISE_MAX_DAYS)
            return AgentDecision("promise_needs_date", reply, lang)
        balance = st.balance()
        amount = reading.amount if reading.amount is not None and reading.amount > 0 else balance
        try:
            plans.check_promise(reading.promised_date, amount, balance, today)
        except plans.PolicyError as exc:
            return _handoff(f"promise outside policy: {exc}", lang, promised_date=reading.promised_date)
        until = reading.promised_date + timedelta(days=ctx.promise_grace_days)
        reply = w.render(
            "promise", name=name, amount=w.money(amount), day=w.day(reading.promised_date), until=w.day(until)
        )
        return AgentDecision(
            "promise_recorded",
            reply,
            lang,
            promised_date=reading.promised_date,
            promised_amount=amount,
            hold_until=until,
        )
    if intent == "paid_claim":
        if ctx.payment is not None:
            p = ctx.payment
            reply = w.render("paid_found", name=name, amount=w.money(p.amount, p.currency), day=w.day(p.day))
            return AgentDecision("paid_found", reply, lang, record={"bank_day": p.day.isoformat()})
        until = today + timedelta(days=PAID_CLAIM_HOLD_DAYS)
        return AgentDecision(
            "paid_not_found", w.render("paid_not_found", name=name, until=w.day(until)), lang, hold_until=until
        )
    if intent == "payment_plan_request":
        plan = _plan_for(st, today)
        if plan is None:
            return _handoff("plan asked but the policy offers none for this balance", lang)
        items = [{"day": w.day(i.due_date), "amount": w.money(i.amount)} for i in plan.instalments]
        reply = w.render("plan_offer", name=name, count=plan.count, total=w.money(plan.total), items=items)
        return AgentDecision("plan_offered", reply, lang, plan=plan, record={"count": plan.count})
    # question_other: how to pay, bank details, who is writing -> the portal, else a person.
    if ctx.portal_link:
        return AgentDecision("how_to_pay_sent", w.render("how_to_pay", name=name, link=ctx.portal_link), lang)
    return _handoff("question: a person answers (no portal link configured)", lang)
