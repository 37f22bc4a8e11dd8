"""``cobranza read-reply``: read debtor messages the way a script sends them, one JSON object per line.

Input (stdin), one object per line: ``text`` (required), optional ``lang`` (es/en/pt), ``channel``,
``sent_at`` (ISO 8601; relative dates resolve against it), ``currency_hint`` (ISO currency of the
account), ``country`` (ISO country) and ``id`` (echoed back). Output (stdout), one object per input
line, in order: ``line``, ``id`` when given, ``intent``, ``confidence``, ``language``,
``promised_date``, ``amount`` (a string, exact), ``currency``, ``invoices``, ``handoff``, ``reason``.
A line that cannot be read gives ``{"line": N, "error": "..."}`` naming the line and what to send
instead, the others are still read, and the command exits 1 at the end. Blank lines are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import IO, Any

from ml.inbound.reader import read_message

FIELDS = ("intent", "confidence", "language", "promised_date", "amount", "currency", "invoices", "handoff", "reason")
_OPTIONAL_TEXT = ("lang", "channel", "sent_at", "currency_hint", "country")


def read_one(n: int, line: str) -> dict[str, Any]:
    """The output object of input line ``n`` (1-based): a reading, or an error naming the line."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return {"line": n, "error": f"line {n}: not JSON ({exc.msg} at column {exc.colno}); send one JSON object "
                                    'per line, e.g. {"text": "pagaré el viernes"}'}  # fmt: skip
    if not isinstance(obj, dict):
        return {"line": n, "error": f"line {n}: a JSON {type(obj).__name__}, expected an object with a text field"}
    if not isinstance(obj.get("text"), str):
        return {"line": n, "error": f"line {n}: no text field (a string) in the object"}
    for key in _OPTIONAL_TEXT:
        if obj.get(key) is not None and not isinstance(obj[key], str):
            return {"line": n, "error": f"line {n}: {key} must be a string"}
    head: dict[str, Any] = {"line": n} | ({"id": obj["id"]} if "id" in obj else {})
    try:
        reading = read_message(
            obj["text"], lang=obj.get("lang"), channel=obj.get("channel"), sent_at=obj.get("sent_at"),
            currency_hint=obj.get("currency_hint"), country=obj.get("country"),
        )  # fmt: skip
    except ValueError as exc:
        return head | {"error": f"line {n}: sent_at {obj.get('sent_at')!r} is not an ISO 8601 time ({exc})"}
    full = reading.to_json()
    return head | {k: full[k] for k in FIELDS}


def read_lines(lines: Iterable[str], out: IO[str]) -> int:
    """Read every non-blank line, write one JSON object per line to ``out``; returns the number of bad lines."""
    bad = 0
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        result = read_one(n, line)
        bad += "error" in result
        out.write(json.dumps(result, ensure_ascii=False) + "\n")
        out.flush()
    return bad
