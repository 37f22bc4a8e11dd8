"""Opt-outs: recognise "STOP" in a reply (es/en/pt) and list every consent withdrawal the webhooks carry.

A contact withdraws consent in one of three ways, all arriving through the webhook receiver:

- a one-click unsubscribe link (a verified token naming the contact and the channel);
- WhatsApp's ``user_preferences`` webhook with ``stop`` (the user blocked marketing messages);
- a reply that says so: ``STOP``, ``BAJA``, ``unsubscribe``, "no me escriban más", "no me
  contacten", "dejen de escribirme", "não quero mais receber", "parem de enviar", "remove me from
  your list"...

:func:`read_opt_out` is the business rule for the third (transparent phrase patterns, like
``ml.inbound.replies``; a reply that opts out is never read as a promise or a paid claim). A reply
withdraws consent for the channel it came through, or for every channel when it says so ("STOP ALL",
"por ningún medio", "any channel", "nenhum canal") or asks not to be *contacted* at all.

:func:`opt_outs` lists the withdrawals from ``raw_channels.webhook_events`` (landed from the spool at
the start of every dispatch, so minutes old at most), with the contact when it can be told (the
token's contact; for a reply, the task it answers, the number we last wrote to, or the contact
directory) and the address it came from, so the pre-send re-check (``ml.nba.revalidate``) cancels
queued tasks to that contact or that address. An opt-out stands until the contact opts in again
through the CRM's consent flags and a new decision.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import duckdb
import pandas as pd

from ml.inbound.text import clean_body

#: Channels a withdrawal can name; ``all`` covers every customer-facing channel.
WITHDRAWAL_CHANNELS = ("email", "whatsapp", "sms", "call", "all")
COLUMNS = ("event_id", "customer_id", "contact_id", "address", "channel", "occurred_at", "source")


@dataclass(frozen=True)
class OptOut:
    """An opt-out read in a reply.

    Attributes:
        scope: ``channel`` (the channel the reply came through) or ``all``.
        matched: The phrase that decided it (for review).
    """

    scope: str
    matched: str


def _fold(text: str) -> str:
    """Lower case, no accents, no zero-width/format characters, compatibility forms folded (ＳＴＯＰ)."""
    norm = unicodedata.normalize("NFKD", text.lower())
    kept = "".join(c for c in norm if not unicodedata.combining(c) and unicodedata.category(c) != "Cf")
    return re.sub(r"\s+", " ", kept.replace("’", "'")).strip()


#: A message that is nothing but one of these words (carrier keywords; Twilio's standard set, es, pt).
_KEYWORDS = {
    "stop": "channel",
    "stopall": "all",
    "stop all": "all",
    "unsubscribe": "channel",
    "cancel": "channel",
    "end": "channel",
    "quit": "channel",
    "optout": "channel",
    "opt out": "channel",
    "opt-out": "channel",
    "revoke": "channel",
    "baja": "channel",
    "alto": "channel",
    "parar": "channel",
    "pare": "channel",
    "sair": "channel",
    "descadastrar": "channel",
}
#: A message that starts with one of these words followed by more text ("STOP, no me escriban más"),
#: or has one as a sentence of its own ("Ya pagamos. STOP.").
_LEADING = re.compile(r"^\W*(stop ?all|stop|unsubscribe|opt[ -]?out|baja|pare|sair)\b(?!\w)")
_SENTENCE = re.compile(r"[.!?;,:]\s*(stop ?all|stop|unsubscribe|baja|pare|sair)\s*(?:[.!?;,:]|$)")
#: Verbs that mean any contact at all (scope ``all``) rather than this channel's messages.
_ANY_CONTACT = re.compile(r"contact|contat|molest|incomod|llam|ligu|lig(ar|uem)|call|procur")
#: Words that widen a withdrawal to every channel.
_ALL_CHANNELS = re.compile(
    r"\b(stop ?all|todos los (canales|medios)|por (ningun|ninguna|cualquier) (medio|canal|via)|"
    r"ningun (medio|canal)|de ninguna (forma|manera)|por ningun lado|any (channel|means|way)|"
    r"all channels|every channel|by any means|todos os (canais|meios)|nenhum (canal|meio)|"
    r"de nenhuma (forma|maneira)|por nenhum (meio|canal))\b"
)
#: (pattern, negatable): a negatable phrase preceded by "no/not/don't want to" is not an opt-out
#: ("no quiero darme de baja", "I don't want to unsubscribe").
_PHRASES: list[tuple[str, bool]] = [
    # Spanish
    (r"\bno (me|nos) (vuelvan a |sigan |)(escr|envi|mand|contact|molest|llam)\w*", False),
    (r"\bdej(en|a|e|ad|ar) de (escrib|envi|mand|contact|molest|llam)\w*", False),
    (r"\bbasta de (mensajes|msj|correos|llamadas|whatsapps?|sms|escribir|llamar)\b", False),
    (r"\bde baja\b", True),
    (
        r"\b(saquen|borren|eliminen|quiten|retiren|sacar|borrar|eliminar|quitar|retirar)(me|nos)?\b"
        r"[^.!?]{0,25}\b(lista|base de datos|listado)\b",
        True,
    ),
    (
        r"\bno (quiero|queremos|deseo|deseamos) (recibir|seguir recibiendo)\b[^.!?]{0,30}"
        r"\b(mas|mensajes?|correos?|e-?mails?|sms|whatsapps?|notificaciones|recordatorios|avisos)\b",
        False,
    ),
    (r"\bno (quiero|queremos|deseo|deseamos) que (me|nos) (escrib|contact|envi|mand|molest|llam)\w*", False),
    # English
    (r"\bunsubscrib\w*", True),
    (r"\bopt(ing)?[ -]?out\b", True),
    (r"\bremove (me|us|my (number|email|e-mail|address))\b[^.!?]{0,25}\b(list|database|mailing)\b", True),
    (r"\btake (me|us) off\b", True),
    (r"\bstop (texting|messaging|emailing|e-mailing|contacting|sending|writing|spamming|bothering|harassing)\b", False),
    (r"\b(do not|don't|dont|never) (contact|text|message|email|e-mail|write to|send) (me|us)\b", False),
    (r"\bno more (messages|texts|emails|e-mails|reminders|notifications|contact)\b", False),
    (r"\b(don't|dont|do not) want to (receive|get) (these|any|your|more)\b", False),
    (r"\bopt (me|us) out\b", False),
    (r"\bquit (texting|messaging|emailing|e-mailing|calling|contacting) (me|us)\b", False),
    # Portuguese
    (
        r"\bnao (quero|queremos|desejo|desejamos) (mais )?(receber|continuar recebendo)\b",
        False,
    ),
    (r"\bnao (quero|queremos|desejo|desejamos) que (me|nos) (envi|mand|contat|contact|escrev|lig)\w*", False),
    (r"\bparem de (me |nos )?(envi|mand|escrev|contat|contact|incomod|lig)\w*", False),
    (r"\bnao (me|nos) (envi|mand|contat|contact|escrev|incomod|procur|lig)\w* mais\b", False),
    (r"\b(me|nos) (tirem|removam|retirem|excluam)\b[^.!?]{0,25}\blista\b", True),
    (r"\b(removid|excluid|retirad)[oa]s? d[ae]s? [^.!?]{0,15}\blista\b", True),
    (r"\bdescadastr\w*", True),
    (r"\b(me|nos) (tira|tirem|tirar|remove|removam|exclui|excluam)\b[^.!?]{0,15}\b(lista|cadastro|base)\b", True),
    (r"\bremo(cao|ver|vam) (do |o |de )?(meu |nosso )?(contacto|contato|numero|telefone|e-?mail)", True),
    (r"\b(excluam|exclua|removam|remova|apaguem) (o )?(meu|nosso) (numero|contacto|contato|telefone|e-?mail)", True),
    (r"\bchega de (mensage\w*|msgs?|ligac\w*|cobranc\w*|e-?mails?)\b", False),
    (r"\bn (quero|queremos) mais receber\b", False),
    (r"\bpara de (me |nos )?(envi|mand|escrev|contat|contact|lig|incomod)\w*", False),
    (r"\bnao (me |nos )?(entrem|entre) (mais )?em contac?to\b", False),
    (r"\bnao (me |nos )?(mande|mandem|envie|enviem|escreva|escrevam|ligue|liguem) mais\b", False),
    (r"\bnao (quero|queremos) mais (mensage\w*|msgs?|cobranc\w*|ligac\w*|e-?mails?|whats\w*)\b", False),
    (r"\b(me |nos )?deix(a|em) em paz\b", False),
    (r"\b(ya )?no (quiero|queremos) (mas |recibir )?(mensajes|msjs?|correos|llamadas|whatsapps?|sms)\b", False),
    (
        r"\bno (me |nos )?interesa\w* (recibir )?(sus |estos |esos |los |mas )?(mensajes|correos|avisos|recordatorios)",
        False,
    ),
    (r"\bno (me |nos )?(manden|envien|escriban|llamen|molesten) (nada )?mas\b", False),
    (r"\b(dejen|deja|dejenme|dejame|dejennos) (de molestar|en paz)\b", False),
    (r"\b(sac|borr|elimin|quit)(a|en|ar|e)(me|nos)? (mi|el|nuestro) (numero|telefono|correo|contacto)", True),
    (r"\b(dar|darse|darme|darnos|den) de baja\b", True),
    (r"\b(desuscrib|desinscrib|cancelar (la |mi )?suscripcion)\w*", True),
    (r"\bleave (me|us) alone\b", False),
    (r"\b(remove|delete) (my|our) (number|email|e-mail|details|contact)", True),
    (r"\bstop (calling|contacting|texting|messaging|emailing) (me|us|this)\b", False),
    (r"\bunsub\b", True),
    (r"\bcancelar (a |minha |nossa )?inscricao\b", True),
]
_COMPILED = [(re.compile(p), negatable) for p, negatable in _PHRASES]
_NEGATION = re.compile(
    r"\b(no|not|don't|dont|do not|nao|nunca|never)\b( (quiero|queremos|quero|want|wish|need|deseo|desejo|to|me|"
    r"nos|voy a|vou|vamos|darme|darnos|dar|ser|be|get|being))* ?$"
)


def read_opt_out(text: str | None) -> OptOut | None:
    """Whether a reply withdraws consent, and for which channels.

    Args:
        text: The message text (None for a non-text message).

    Returns:
        The opt-out, or None when the message does not opt out.
    """
    if not isinstance(text, str) or not text.strip():
        return None
    t = _fold(text)
    bare = re.sub(r"[^\w' -]+", " ", t).strip()
    bare = re.sub(r"\s+", " ", bare)
    if bare in _KEYWORDS:
        return OptOut(_KEYWORDS[bare], bare)
    wide = _ALL_CHANNELS.search(t)
    if m := _LEADING.search(t) or _SENTENCE.search(t):
        scope = "all" if wide or m[1].replace(" ", "") == "stopall" else "channel"
        return OptOut(scope, m[1])
    for pattern, negatable in _COMPILED:
        m = pattern.search(t)
        if not m:
            continue
        if negatable and _NEGATION.search(t[max(0, m.start() - 40) : m.start()]):
            continue
        scope = "all" if wide or _ANY_CONTACT.search(m[0]) else "channel"
        return OptOut(scope, m[0])
    return None


def _reply_opt_out(text: str | None) -> OptOut | None:
    """A reply's opt-out as the message reader reads it: the phrase rules above on the sender's own
    words (``ml.inbound.text.clean_body``), so a quoted reminder's "Reply STOP" does not count."""
    if not isinstance(text, str) or not text.strip():
        return None
    return read_opt_out(clean_body(text))


_EVENTS = """
select w.event_id, w.provider, w.kind, w.status, w.text, w.from_addr, w.occurred_at,
       w.customer_id, w.contact_id
from raw_channels.webhook_events w
where w.kind in ('unsubscribe', 'portal_opt_out', 'preference', 'message')
"""


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    rows = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchall()
    return bool(rows[0][0])


def _digits(value: object) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    digits = re.sub(r"\D", "", str(value))
    return digits or None


def opt_outs(con: duckdb.DuckDBPyConnection, directory: str = "marts.dim_contacts") -> pd.DataFrame:
    """Every consent withdrawal the landed webhook events carry.

    Args:
        con: Warehouse or operational-store connection (``raw_channels.webhook_events``; the
            outbox and the contact directory are used to tell the contact of a reply when present).
        directory: The contact directory table (``marts.dim_contacts``, or the store's serving copy).

    Returns:
        One row per withdrawal: ``event_id``, ``customer_id`` and ``contact_id`` (None when the
        sender could not be matched), ``address`` (phone digits of a reply or preference; None for
        a link), ``channel`` (one of :data:`WITHDRAWAL_CHANNELS`), ``occurred_at`` and ``source``
        (``unsubscribe_link``, ``portal`` (the debtor portal's preferences page), ``whatsapp_preference`` or
        ``reply: <phrase>``).
    """
    empty = pd.DataFrame({c: pd.Series(dtype=object) for c in COLUMNS})
    if not _exists(con, "raw_channels", "webhook_events"):
        return empty
    cur = con.execute(_EVENTS)
    # Rows as they come (None stays None; a frame would turn a missing text into NaN).
    events = pd.DataFrame(cur.fetchall(), columns=[d[0] for d in cur.description], dtype=object)
    if events.empty:
        return empty
    rows: list[dict[str, object]] = []
    for e in events.itertuples(index=False):
        if e.kind in ("unsubscribe", "portal_opt_out"):
            if not e.contact_id:
                continue  # the receiver and the portal only spool verified tokens, which always name a contact
            channel = e.status if e.status in WITHDRAWAL_CHANNELS else "all"
            rows.append(
                {
                    "event_id": e.event_id,
                    "customer_id": e.customer_id,
                    "contact_id": e.contact_id,
                    "address": None,
                    "channel": channel,
                    "occurred_at": e.occurred_at,
                    "source": "unsubscribe_link" if e.kind == "unsubscribe" else "portal",
                }
            )
        elif e.kind == "preference":
            if str(e.status or "").lower() == "stop":
                rows.append(
                    {
                        "event_id": e.event_id,
                        "address": _digits(e.from_addr),
                        "channel": "whatsapp",
                        "occurred_at": e.occurred_at,
                        "source": "whatsapp_preference",
                    }
                )
        elif (reading := _reply_opt_out(e.text)) is not None:
            via = {"whatsapp": "whatsapp", "email": "email"}.get(e.provider, "sms")
            channel = "all" if reading.scope == "all" else via
            rows.append(
                {
                    "event_id": e.event_id,
                    "address": _email(e.from_addr) if e.provider == "email" else _digits(e.from_addr),
                    "channel": channel,
                    "occurred_at": e.occurred_at,
                    "source": f"reply: {reading.matched}",
                }
            )
    out = pd.DataFrame(rows, columns=list(COLUMNS), dtype=object) if rows else empty
    if out.empty:
        return empty
    # The contact of a reply or preference: the number we last wrote to, else the contact directory.
    unknown = out["contact_id"].isna() & out["address"].notna()
    if unknown.any():
        known = _contacts_by_phone(con, directory)
        hit = out.loc[unknown, "address"].map(known)
        out.loc[unknown, "customer_id"] = hit.map(lambda v: v[0] if isinstance(v, tuple) else None)
        out.loc[unknown, "contact_id"] = hit.map(lambda v: v[1] if isinstance(v, tuple) else None)
    return out.astype(object).where(out.notna(), None).reset_index(drop=True)


def _email(value: object) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip().lower()
    return text if "@" in text else None


def _contacts_by_phone(con: duckdb.DuckDBPyConnection, directory: str) -> dict[str, tuple[str, str]]:
    """Phone digits (or a lower-case e-mail address) -> (customer_id, contact_id): the outbox's latest task to
    that address, else the directory."""
    found: dict[str, tuple[str, str]] = {}
    if _exists(con, *directory.split(".", 1)):
        for digits, customer, contact in con.execute(
            "select regexp_replace(phone, '[^0-9]', '', 'g'), min(customer_id), min(contact_id) "
            f"from {directory} where phone is not null group by 1 "
            f"union all select lower(trim(email)), min(customer_id), min(contact_id) from {directory} "
            "where email like '%@%' group by 1"
        ).fetchall():
            if digits:
                found[digits] = (customer, contact)
    if _exists(con, "outbox", "contact_tasks"):
        for digits, customer, contact in con.execute(
            "select regexp_replace(payload ->> 'phone', '[^0-9]', '', 'g'), arg_max(customer_id, created_at), "
            "arg_max(contact_id, created_at) from outbox.contact_tasks where payload ->> 'phone' is not null "
            "group by 1 "
            "union all select lower(trim(payload ->> 'email')), arg_max(customer_id, created_at), "
            "arg_max(contact_id, created_at) from outbox.contact_tasks where payload ->> 'email' like '%@%' group by 1"
        ).fetchall():
            if digits and contact:
                found[digits] = (customer, contact)
    return found
