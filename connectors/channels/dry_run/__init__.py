"""Dry-run channel: renders outbox tasks and appends them to local JSONL files instead of sending."""

from connectors.channels.dry_run.sender import DryRunSender

__all__ = ["DryRunSender"]
