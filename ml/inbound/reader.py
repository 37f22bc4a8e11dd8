"""Read one debtor message: intent, confidence, language, promised date, amount, currency, invoices,
and whether a person must take it (DESIGN.md §12).

The library the debtor-side agent, the interactions builder and ``cobranza read-reply`` call::

    from ml.inbound.reader import read_message
    reading = read_message("pagaré el viernes $ 1.250.000", lang="es", sent_at="2026-12-02T10:00:00-05:00",
                           currency_hint="COP")
    reading.intent, reading.promised_date, reading.amount   # 'promise_to_pay', 2026-12-04, Decimal('1250000')

Steps, each transparent: (1) the sender's own words (``ml.inbound.text.clean_body``: quoted
reminder, signature, disclaimer removed); (2) the rules (``ml.inbound.rules``): opt-out > legal or
complaint > dispute, which no classifier can overrule; (3) the trained classifier
(``ml.inbound.intent_model``) for everything else, with two guards: when it gives the gated intents
together at least :data:`GATED_GUARD` of its probability but picks another, or its top probability
is below :data:`CONFIDENCE_THRESHOLD` (a gated top below
:data:`GATED_MODEL_THRESHOLD`), the message is ``unclear`` and handed to a person; (4) the
entities (``ml.inbound.entities``), a promised date only for a promise.

``handoff`` says a person must act before (or instead of) any automatic answer: legal or complaint,
dispute (acknowledged automatically, resolved by a person), hardship, wrong contact, unclear or low
confidence, abusive language, and text that addresses the system ("ignore previous instructions"),
which is never obeyed: the message is data. Deterministic; thousands of messages a second.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sklearn.pipeline import Pipeline

from ml.inbound import entities, intent_model, rules
from ml.inbound.optouts import read_opt_out
from ml.inbound.text import LANGUAGES, clean_body, detect_language, fold

INTENTS = (
    "promise_to_pay", "paid_claim", "dispute", "statement_request", "invoice_copy_request",
    "payment_plan_request", "opt_out", "wrong_contact", "legal_or_complaint", "hardship", "question_other",
    "acknowledgement", "unclear",
)  # fmt: skip
#: Intents the rules gate: never returned as an automatically answered intent.
GATED = ("opt_out", "legal_or_complaint", "dispute")
#: Intents an agent may answer on its own (the rest go to a person first).
AUTO_ANSWERED = (
    "promise_to_pay", "paid_claim", "statement_request", "invoice_copy_request", "payment_plan_request",
    "question_other", "acknowledgement",
)  # fmt: skip
HANDOFF_REASONS = {
    "dispute": "dispute: a person reviews the contested invoices",
    "legal_or_complaint": "legal threat or complaint",
    "hardship": "hardship: a person agrees what is possible",
    "wrong_contact": "wrong contact or third party",
    "unclear": "not understood",
}
# The three thresholds were chosen by 4-fold cross-validation grouped by family on the corpus's train
# split (macro-F1 with no gated message auto-answered), never on the held-out part.
#: Below this top probability the classifier's answer is not used.
CONFIDENCE_THRESHOLD = 0.20
#: When the gated intents together get this much probability, an auto-answerable top is not trusted.
GATED_GUARD = 0.50
#: A gated intent the rules did not see is taken from the classifier only this sure.
GATED_MODEL_THRESHOLD = 0.40

_ABUSE = re.compile(
    r"\b(hijos? de puta|hdp|pendej\w*|cabr[oó]n\w*|put[oa]s?|mierda|idiotas?|imbeciles?|ladr[oó]n\w*|estafador\w*|"
    r"filhos? da puta|fdp|vagabund\w*|merda|caralho|porra|fuck\w*|bastards?|assholes?|scum|shit\w*|"
    r"huevones|weones?|boludos?|pelotudos?|conchudos?)\b"
)
_INSTRUCTIONS = re.compile(
    r"\b(ignor[ae]\w* (all |las |todas |as )?(previous|prior|anteriores|above|the above|las instrucciones|instruc)|"
    r"(previous|prior) instructions|instrucciones anteriores|instrucoes anteriores|esque[cç]a\w* (as )?instru|"
    r"system prompt|prompt del sistema|you are now|ahora eres|agora voce e|act as|actua como|jailbreak|"
    r"developer mode|modo desarrollador)"
)


@dataclass(frozen=True)
class Reading:
    """What a debtor's message says.

    Attributes:
        intent: One of :data:`INTENTS`.
        confidence: 0-1; a rule's decision is 1.0, otherwise the classifier's probability of the intent
            (for a message handed off as ``unclear``, of its best guess, named in ``reason``).
        language: ``es``/``en``/``pt`` (the caller's when given, else detected; None without words).
        promised_date: The date promised (``promise_to_pay`` only).
        amount: The first amount of money written (any intent), as Decimal.
        currency: ISO currency of ``amount`` (None when it cannot be told).
        invoices: Invoice references named, in order.
        handoff: Whether a person must act before or instead of an automatic answer.
        reason: Why it is handed off (None when it is not).
        opt_out_scope: For an opt-out, ``channel`` (the channel it came through) or ``all``.
        evidence: The rule phrase that decided a gated intent, or ``model``.
        body: The sender's own words (quoted thread, signature and disclaimer removed).
    """

    intent: str
    confidence: float
    language: str | None
    promised_date: date | None = None
    amount: Decimal | None = None
    currency: str | None = None
    invoices: tuple[str, ...] = field(default_factory=tuple)
    handoff: bool = False
    reason: str | None = None
    opt_out_scope: str | None = None
    evidence: str | None = None
    body: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (dates ISO, the amount as a string so no digit is lost)."""
        out = asdict(self)
        out["promised_date"] = self.promised_date.isoformat() if self.promised_date else None
        out["amount"] = str(self.amount) if self.amount is not None else None
        out["invoices"] = list(self.invoices)
        out["confidence"] = round(self.confidence, 4)
        return out


def _unreadable(body: str) -> bool:
    """Binary junk or another script: many control characters, or letters mostly outside Latin."""
    controls = sum(1 for c in body if unicodedata.category(c) == "Cc" and c not in "\n\t")
    letters = [c for c in body if c.isalpha()]
    foreign = sum(1 for c in letters if ord(c) >= 0x250)
    return controls > 0.05 * len(body) or (len(letters) >= 2 and foreign > 0.5 * len(letters))


_SCORERS: dict[int, intent_model.Scorer] = {}


def _scorer(model: Pipeline | None) -> intent_model.Scorer:
    """The fast scorer of ``model`` (default: the process-wide classifier), built once per model."""
    model = model or intent_model.default_model()
    if (found := _SCORERS.get(id(model))) is None or found.model is not model:
        found = _SCORERS[id(model)] = intent_model.Scorer(model)
    return found


def _ref_date(sent_at: datetime | date | str | None) -> date:
    """The sender's local day of the message (an aware time keeps its own offset)."""
    if sent_at is None:
        return datetime.now(UTC).date()
    if isinstance(sent_at, str):
        sent_at = datetime.fromisoformat(sent_at.strip().replace("Z", "+00:00"))
    return sent_at.date() if isinstance(sent_at, datetime) else sent_at


def read_message(
    text: str | None,
    *,
    lang: str | None = None,
    channel: str | None = None,
    sent_at: datetime | date | str | None = None,
    currency_hint: str | None = None,
    country: str | None = None,
    model: Pipeline | None = None,
) -> Reading:
    """Read one inbound message.

    Args:
        text: The message as received (WhatsApp/SMS text, or an e-mail's plain-text body with its
            quoted thread); None or blank for a message without text (an image, a voice note).
        lang: ``es``/``en``/``pt`` when known (the contact's language); otherwise detected.
        channel: ``whatsapp``/``sms``/``email`` (informational: the reading does not depend on it).
        sent_at: When it was sent (ISO string, datetime or date); relative dates resolve against the
            sender's local day. Default: today (UTC).
        currency_hint: ISO currency of the account (what ``$`` and "pesos" mean).
        country: ISO country of the sender when known (``US`` reads ``12/5`` as December 5).
        model: A fitted classifier (default: ``intent_model.default_model()``).

    Returns:
        The reading. Raises ``ValueError`` only for an unparseable ``sent_at``.
    """
    del channel  # accepted for the callers' convenience; the words decide
    ref = _ref_date(sent_at)
    body = clean_body(text) if isinstance(text, str) else ""
    folded = fold(body)
    language = lang if lang in LANGUAGES else detect_language(body)[0]
    if not re.search(r"\w|[^\x00-\x7f]", folded):
        return Reading("unclear", 1.0, language, handoff=True, reason="no text", evidence="empty", body=body)

    hit = rules.gated_intent(body, folded)
    if hit:
        intent, confidence, evidence, reason = hit.intent, 1.0, hit.matched, HANDOFF_REASONS.get(hit.intent)
    elif _unreadable(body):
        intent, confidence, evidence, language = "unclear", 1.0, "unreadable", lang if lang in LANGUAGES else None
        reason = "not readable text in es/en/pt (binary, control characters or another script)"
    else:
        scorer = _scorer(model)
        probs = dict(zip(scorer.classes_, scorer.proba(intent_model.features_text(body)), strict=True))
        top = max(probs, key=probs.__getitem__)
        gated_mass = sum(probs.get(g, 0.0) for g in GATED)
        intent, confidence, evidence, reason = str(top), float(probs[top]), "model", HANDOFF_REASONS.get(str(top))
        if top == "opt_out":
            # Consent is withdrawn on a phrase a person can audit (ml.inbound.optouts), never on a
            # probability: an opt-out only the classifier sees goes to a person.
            intent, reason = (
                "unclear",
                f"may be an opt-out (p={confidence:.2f}) with no opt-out phrase: a person reads it",
            )
        elif top in GATED and confidence < GATED_MODEL_THRESHOLD:
            intent, reason = "unclear", f"may be {top.replace('_', ' ')} (p={confidence:.2f}): a person reads it"
        elif top not in GATED and gated_mass >= GATED_GUARD:
            likely = max(GATED, key=lambda g: probs.get(g, 0.0))
            intent, reason = "unclear", f"may be {likely.replace('_', ' ')} (p={probs[likely]:.2f}): a person reads it"
        elif confidence < CONFIDENCE_THRESHOLD:
            intent, reason = "unclear", f"low confidence ({top} p={confidence:.2f})"
    handoff = reason is not None
    if _INSTRUCTIONS.search(folded):
        handoff, reason = True, "the message addresses the system (treated as data, not obeyed)"
    elif _ABUSE.search(folded):
        handoff, reason = True, "abusive language"

    amounts = entities.find_amounts(body, currency_hint=currency_hint, language=language)
    invoices = entities.find_invoices(body)
    promised = None
    if intent == "promise_to_pay":
        skip = [(a.start, a.end) for a in amounts] + [m.span() for m in entities.INVOICE_CODE.finditer(folded)]
        promised = entities.promised_date(body, ref, country=country, language=language, skip=skip)
    first = amounts[0] if amounts else None
    scope = opt_out.scope if intent == "opt_out" and (opt_out := read_opt_out(body)) else None
    return Reading(
        intent=intent,
        confidence=float(confidence),
        language=language,
        promised_date=promised,
        amount=first.value if first else None,
        currency=first.currency if first else None,
        invoices=tuple(invoices),
        handoff=handoff,
        reason=reason,
        opt_out_scope=scope,
        evidence=evidence,
        body=body,
    )
