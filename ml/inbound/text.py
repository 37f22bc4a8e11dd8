"""The words a debtor wrote: quoted threads, signatures and disclaimers removed; language identified.

E-mail replies carry the reminder they answer (under an ``On ... wrote:`` / ``El ... escribió:`` /
``Em ... escreveu:`` line or an Outlook ``De:/From:`` block), a sign-off, a signature, a "Sent from
my iPhone" line and often a legal disclaimer, all of which contain words a reader trips on ("STOP",
"acciones legales", "received in error"). :func:`clean_body` keeps only what the sender wrote:
quotation detection is ``quotequail`` (Close.io's maintained library, es/pt/en reply headers and
Outlook blocks), with a line-based fallback for the shapes it leaves; signatures and disclaimers
are cut by the short, documented patterns below. :func:`detect_language` is ``py3langid`` (the
langid.py model shipped inside the wheel, nothing downloaded) restricted to es/en/pt.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import quotequail

LANGUAGES = ("es", "en", "pt")
#: Longest text read (characters): beyond this a message is not a reply someone typed.
MAX_CHARS = 20_000

_HEADER_LINE = re.compile(
    r"^\s*(?:>\s*)?(?:(?:el|on|em|le|am)\s.{4,200}?\s(?:escribi[oó]|wrote|escreveu|a écrit|schrieb)\s*:?"
    r"|-{2,}\s*(?:mensaje original|original message|mensagem original|forwarded message|mensaje reenviado)\s*-*"
    r"|_{10,})\s*$",
    re.IGNORECASE,
)
_OUTLOOK_FIELD = re.compile(r"^\s*\*?(?:de|from|enviado(?: el)?|enviada em|sent|para|to|asunto|assunto|subject|"
                            r"fecha|date|cc)\s*:\*?\s", re.IGNORECASE)  # fmt: skip
_SENT_FROM = re.compile(
    r"^\s*(?:enviado (?:desde|do|de) (?:mi|meu|o)\b|sent from my\b|get outlook for\b|obtener outlook para\b)",
    re.IGNORECASE,
)
_DISCLAIMER = re.compile(
    r"^\s*\W*(?:aviso|aviso legal|aviso de confidencialidad|confidencialidad|confidentiality notice|"
    r"confidential|disclaimer|caution|warning|this (?:e-?mail|message)|este (?:correo|mensaje)|"
    r"esta mensagem|este e-?mail)\b[^\n]*(?:\n[^\n]+)*",
    re.IGNORECASE,
)
_DISCLAIMER_WORDS = re.compile(
    r"confiden|destinatari|intended recipient|privilegiad|privileged|por error|por engano|in error|"
    r"unauthori[sz]ed|no autorizad|nao autorizad|não autorizad",
    re.IGNORECASE,
)
_SIGNOFF = re.compile(
    r"^\s*(?:saludos(?: cordiales)?|un saludo|atentamente|atte\.?|cordialmente|quedo atent[oa]|bendiciones|"
    r"atenciosamente|att\.?|cumprimentos|abra[cç]o|grat[oa]|obrigad[oa]|"
    r"best(?: regards)?|kind regards|regards|thanks|thank you|many thanks|cheers|sincerely|gracias|"
    r"muchas gracias)\s*[,.!]?\s*$",
    re.IGNORECASE,
)


def fold(text: str) -> str:
    """Lower case, accents and zero-width/format characters removed, compatibility forms folded.

    'Mañana'/'manana', 'não'/'nao' and full-width 'ＳＴＯＰ'/'stop' read alike; emoji are kept.
    """
    norm = unicodedata.normalize("NFKD", text.lower())
    kept = "".join(c for c in norm if not unicodedata.combining(c) and unicodedata.category(c) != "Cf")
    return re.sub(r"[ \t]+", " ", kept.replace("’", "'").replace("´", "'"))


def _strip_quotes(text: str) -> str:
    if "\n" not in text:
        return text
    if re.search(r"^\s*>|wrote|escribi|escreveu|^\s*(?:de|from)\s*:|-{3,}|_{10,}", text, re.IGNORECASE | re.MULTILINE):
        try:
            found = quotequail.unwrap(text)
        except Exception:  # noqa: BLE001 - a library failure on odd input must not stop reading
            found = None
        if found and found.get("text_top") is not None:
            text = found["text_top"]
    lines = text.split("\n")
    for i, line in enumerate(lines):
        if _HEADER_LINE.match(line) or (
            _OUTLOOK_FIELD.match(line) and i + 1 < len(lines) and _OUTLOOK_FIELD.match(lines[i + 1])
        ):
            lines = lines[:i]
            break
    return "\n".join(ln for ln in lines if not ln.lstrip().startswith(">"))


def _strip_signature(text: str) -> str:
    lines = text.split("\n")
    content = [i for i, ln in enumerate(lines) if ln.strip()]
    for i in content:
        line = lines[i]
        if line.strip() in ("--", "-- ", "__") or _SENT_FROM.match(line):
            lines = lines[:i]
            break
        # A sign-off after the message (not the message itself), followed by a short signature block.
        if i != content[0] and _SIGNOFF.match(line) and len([j for j in content if j > i]) <= 6:
            lines = lines[:i]
            break
    text = "\n".join(lines)
    for m in list(_DISCLAIMER.finditer(text))[::-1]:
        if _DISCLAIMER_WORDS.search(m[0]):
            text = text[: m.start()] + text[m.end() :]
    return text


def clean_body(text: str) -> str:
    """What the sender wrote: no quoted thread, signature, sign-off or disclaimer; whitespace tidied.

    Args:
        text: The raw message (WhatsApp/SMS text or an e-mail's plain-text body).

    Returns:
        The sender's own words (may be empty: an e-mail that only forwards a thread).
    """
    text = text[:MAX_CHARS].replace("\r\n", "\n").replace("\r", "\n")
    body = _strip_signature(_strip_quotes(text))
    body = re.sub(r"\n\s*\n+", "\n", body)
    return body.strip()


@lru_cache(maxsize=1)
def _identifier():  # noqa: ANN202 - py3langid's own class
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(list(LANGUAGES))
    return ident


def detect_language(text: str) -> tuple[str | None, float]:
    """The language of ``text`` among es/en/pt and the model's probability; (None, 0) without letters."""
    letters = sum(c.isalpha() for c in text)
    if letters < 2:
        return None, 0.0
    lang, prob = _identifier().classify(text[:2000])
    return str(lang), float(prob)
