"""Durable, append-only spool of normalised webhook events (JSON lines, one file per UTC day).

The webhook receiver runs as its own process while DuckDB allows one writer per database file, so
the receiver never touches the warehouse: it appends each accepted event to
``<dir>/events-YYYYMMDD.jsonl`` (flushed and ``fsync``-ed before the provider gets its 200) and the
dispatch stage lands the spool into ``raw_channels.webhook_events`` (``connectors.webhooks.store``).
Providers deliver at least once, so every event carries a deterministic ``event_id`` and duplicates
are dropped when landing.

Normalised event fields: ``event_id``, ``provider`` (whatsapp | twilio | email), ``kind`` (status |
message | unsubscribe | preference), ``provider_message_id``, ``status``, ``correlation_id`` (our task
id when the provider echoes it), ``from_addr``, ``to_addr``, ``text``, ``context_message_id``,
``error_code``, ``error_title``, ``occurred_at`` and ``received_at`` (ISO-8601 UTC), and for a verified
unsubscribe the ``customer_id`` and ``contact_id`` its token names (``status`` is then the channel).
The debtor portal (``portal``) spools what a debtor did there under the kinds ``portal_promise``,
``portal_dispute``, ``portal_plan_accepted``, ``portal_opt_out`` and ``payment_succeeded`` (a verified
payment-provider webhook), with the token's ``customer_id`` and the details (invoices, dates,
amounts as strings) in ``payload``, a JSON object stored as text.

Signed bodies the receiver cannot read (the wrong JSON shape, a required id missing) are kept apart in
``<dir>/quarantine/<provider>-YYYYMMDD.jsonl`` with the reason, never landed: an operator can read
them and replay what a provider really meant.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

EVENT_FIELDS = (
    "event_id",
    "provider",
    "kind",
    "provider_message_id",
    "status",
    "correlation_id",
    "from_addr",
    "to_addr",
    "text",
    "context_message_id",
    "error_code",
    "error_title",
    "occurred_at",
    "received_at",
    "customer_id",
    "contact_id",
    "payload",
)


class Spool:
    """Thread-safe appender and reader of the event files.

    Args:
        directory: Spool folder (created if missing).
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()

    def append(self, events: Iterable[Mapping[str, Any]]) -> int:
        """Append events durably; return how many were written."""
        now = datetime.now(UTC)
        lines = []
        for e in events:
            record = {k: e.get(k) for k in EVENT_FIELDS}
            if isinstance(record["payload"], dict):
                record["payload"] = json.dumps(record["payload"], ensure_ascii=False, sort_keys=True, default=str)
            record["received_at"] = record["received_at"] or now.isoformat()
            if not record["event_id"] or not record["provider"] or not record["kind"]:
                raise ValueError(f"webhook event without event_id/provider/kind: {record}")
            lines.append(json.dumps(record, ensure_ascii=False) + "\n")
        if not lines:
            return 0
        path = self.dir / f"events-{now:%Y%m%d}.jsonl"
        with self._lock, path.open("a", encoding="utf-8") as fh:
            fh.write("".join(lines))
            fh.flush()
            os.fsync(fh.fileno())
        return len(lines)

    def quarantine(self, provider: str, body: bytes, reason: str) -> Path:
        """Keep a signed body that could not be read, with the reason; return the file written."""
        now = datetime.now(UTC)
        folder = self.dir / "quarantine"
        folder.mkdir(parents=True, exist_ok=True)
        record = {
            "received_at": now.isoformat(),
            "provider": provider,
            "reason": reason,
            "body": body.decode("utf-8", "backslashreplace"),
        }
        path = folder / f"{provider}-{now:%Y%m%d}.jsonl"
        with self._lock, path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        return path

    def probe(self) -> None:
        """Write, fsync and remove a probe file: raise ``OSError`` when the spool cannot take an event."""
        path = self.dir / f".ready-probe-{os.getpid()}-{threading.get_ident()}"
        try:
            with path.open("wb") as fh:
                fh.write(b"ok\n")
                fh.flush()
                os.fsync(fh.fileno())
        finally:
            path.unlink(missing_ok=True)

    def sync(self) -> None:
        """Make the spool's file names durable too (fsync its folders), e.g. before the process exits.

        Each append is already fsynced; a file created since the last folder sync needs its folder
        entry flushed to survive a power loss.
        """
        with self._lock:
            for folder in (self.dir, self.dir / "quarantine"):
                if folder.is_dir():
                    fd = os.open(folder, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)

    def quarantined(self) -> Iterator[dict[str, Any]]:
        """Every quarantined body record (``received_at``, ``provider``, ``reason``, ``body``)."""
        for path in sorted((self.dir / "quarantine").glob("*.jsonl")):
            with path.open(encoding="utf-8") as fh:
                for line in fh:
                    if line.strip():
                        try:
                            yield json.loads(line)
                        except json.JSONDecodeError:
                            continue

    def files(self) -> list[Path]:
        """The spool files, oldest first."""
        return sorted(self.dir.glob("events-*.jsonl"))

    def read(self) -> Iterator[dict[str, Any]]:
        """Every readable event (a torn last line from a crash is skipped)."""
        for path in self.files():
            with path.open(encoding="utf-8") as fh:
                for line in fh:
                    if not line.strip():
                        continue
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:
                        continue
