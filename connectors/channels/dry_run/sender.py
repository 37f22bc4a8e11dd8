"""Dry-run channel provider: writes each rendered message to ``<out_dir>/<decision_date>.jsonl``.

This is the default channel on a fresh machine (DESIGN.md §1): nothing leaves the host, but every
message is rendered with the real templates and logged exactly once, so the daily run can be
inspected and the simulator can react to what would have been sent. The file is the "provider":
a task is delivered iff its ``task_id`` appears in the day's file. That makes crash recovery exact:
``reconcile`` reads the file, and ``send_batch`` never appends a task that is already there, so the
append is idempotent even if the process died between the file write and the ``sent`` event.

Writes are one ``write`` per batch and file, flushed and ``fsync``-ed before results are returned.
A torn last line (crash mid-write) is ignored on read and a newline is added before appending.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from connectors.channels.base import SendResult
from connectors.channels.templates.render import render_message

logger = logging.getLogger(__name__)


def provider_message_id(task_id: str) -> str:
    """Deterministic dry-run message id: ``dryrun-<first 12 hex of the task id>``."""
    return f"dryrun-{task_id[:12]}"


def _recipient(task: Mapping[str, Any]) -> str | None:
    payload = task["payload"]
    if task["channel"] == "email":
        return payload.get("email")
    if task["channel"] in ("whatsapp", "sms", "call"):
        return payload.get("phone")
    return "collections-team"


class DryRunSender:
    """Channel provider that appends rendered messages to JSONL files, one file per decision date.

    Args:
        out_dir: Directory for ``<decision_date>.jsonl`` files (created if missing).
    """

    name = "dry_run"
    #: ``dispatch`` writes every open task, not only due ones: each line carries its scheduled_at.
    due_only_default = False

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.out_dir = Path(out_dir)
        self._written: dict[str, set[str]] = {}

    def path_for(self, decision_date: Any) -> Path:
        """The JSONL file of one decision date."""
        return self.out_dir / f"{pd.Timestamp(decision_date).date().isoformat()}.jsonl"

    def _ids_in(self, path: Path) -> set[str]:
        key = str(path)
        if key not in self._written:
            ids: set[str] = set()
            if path.exists():
                with path.open(encoding="utf-8") as fh:
                    for n, line in enumerate(fh, start=1):
                        if not line.strip():
                            continue
                        try:
                            ids.add(json.loads(line)["task_id"])
                        except (json.JSONDecodeError, KeyError):
                            logger.warning("%s:%d: unreadable line ignored (torn write?)", path, n)
            self._written[key] = ids
        return self._written[key]

    def reconcile(self, tasks: Sequence[Mapping[str, Any]]) -> dict[str, str | None]:
        """Tasks in ``sending`` after a crash: delivered iff their id is already in the file."""
        return {
            t["task_id"]: provider_message_id(t["task_id"])
            if t["task_id"] in self._ids_in(self.path_for(t["decision_date"]))
            else None
            for t in tasks
        }

    def _line(self, task: Mapping[str, Any]) -> str:
        payload = task["payload"]
        msg = render_message(task["action"], {**payload, "channel": task["channel"]})
        record = {
            "task_id": task["task_id"],
            "customer_id": task["customer_id"],
            "contact_id": task.get("contact_id"),
            "action": task["action"],
            "channel": task["channel"],
            "to": _recipient(task),
            "subject": msg.subject,
            "body": msg.body,
            "body_text": msg.body_text,
            "language": msg.language,
            "locale": msg.locale,
            "scheduled_at": pd.Timestamp(task["scheduled_at"]).isoformat(),
            "local_scheduled_at": payload.get("local_scheduled_at"),
            "provider_message_id": provider_message_id(task["task_id"]),
        }
        return json.dumps(record, ensure_ascii=False) + "\n"

    def send_batch(self, tasks: Sequence[Mapping[str, Any]]) -> list[SendResult]:
        """Render and append the tasks not yet in their day's file; one write per file."""
        results: list[SendResult] = []
        by_path: dict[Path, list[tuple[str, str]]] = {}
        for task in tasks:
            tid = task["task_id"]
            path = self.path_for(task["decision_date"])
            if tid in self._ids_in(path):
                results.append(SendResult(tid, True, provider_message_id(tid), "already in dry-run file"))
                continue
            try:
                line = self._line(task)
            except Exception as exc:  # a template or data error must not stop the other messages
                logger.exception("dry-run render failed for task %s", tid)
                results.append(SendResult(tid, False, detail=f"render error: {exc}", retryable=False))
                continue
            by_path.setdefault(path, []).append((tid, line))
        for path, lines in by_path.items():
            self._append(path, [line for _, line in lines])
            self._ids_in(path).update(tid for tid, _ in lines)
            results += [SendResult(tid, True, provider_message_id(tid)) for tid, _ in lines]
        return results

    def _append(self, path: Path, lines: list[str]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        prefix = ""
        if path.exists() and path.stat().st_size > 0:
            with path.open("rb") as fh:
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    prefix = "\n"
        with path.open("a", encoding="utf-8") as fh:
            fh.write(prefix + "".join(lines))
            fh.flush()
            os.fsync(fh.fileno())
