"""Which sender handles which task channel: dry run by default, real providers when configured.

The task channels are ``email``, ``whatsapp``, ``sms``, ``call`` and ``internal``; each maps to a
provider name (``dry_run``, ``smtp``, ``whatsapp_cloud``, ``twilio``, ``hubspot``). Channels that share
a provider share one sender (one pool of connections). Provider configs are built here,
once, by ``<Provider>Config.from_env`` (``connectors.secrets.EnvConfig``: explicit overrides, then
``COBRANZA_<SECTION>__<FIELD>``, then the Prefect Secret block ``cobranza-<section>-<field>``), so a
missing credential fails here, before anything is sent, naming the variable and the block to set.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from connectors.channels.base import ChannelConfigError, Sender

CHANNELS = ("email", "whatsapp", "sms", "call", "internal")
PROVIDERS: dict[str, tuple[str, ...]] = {
    "email": ("dry_run", "smtp"),
    "whatsapp": ("dry_run", "whatsapp_cloud"),
    "sms": ("dry_run", "twilio"),
    "call": ("dry_run", "hubspot"),
    "internal": ("dry_run", "hubspot"),
}


def build_senders(
    choice: Mapping[str, str],
    *,
    dry_run_dir: str | Path,
    whatsapp_status_lookup: Callable[[Sequence[str]], Mapping[str, str]] | None = None,
    whatsapp_last_inbound: Mapping[str, datetime] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[tuple[tuple[str, ...], Sender]]:
    """One sender per provider in use, with the task channels it serves.

    Args:
        choice: Task channel -> provider (channels left out use the dry run).
        dry_run_dir: Folder of the dry-run files.
        whatsapp_status_lookup: Confirmations from status webhooks (WhatsApp reconcile).
        whatsapp_last_inbound: Last inbound message per WhatsApp user (the 24-hour window).
        overrides: Provider -> config values taking precedence over the environment (tests, demo).

    Returns:
        ``[(channels, sender), ...]`` with the dry run last.

    Raises:
        ChannelConfigError: An unknown provider, or a provider that is not configured.
    """
    groups: dict[str, list[str]] = {}
    for channel in CHANNELS:
        provider = choice.get(channel, "dry_run")
        if provider not in PROVIDERS[channel]:
            raise ChannelConfigError(
                f"channel {channel!r}: unknown provider {provider!r}; choose one of {PROVIDERS[channel]}"
            )
        groups.setdefault(provider, []).append(channel)
    extra = overrides or {}
    out: list[tuple[tuple[str, ...], Sender]] = []
    for provider, channels in groups.items():
        cfg = dict(extra.get(provider) or {})
        if provider == "smtp":
            from connectors.channels.smtp import SmtpConfig, SmtpSender

            sender: Sender = SmtpSender(SmtpConfig.from_env(**cfg))
        elif provider == "whatsapp_cloud":
            from connectors.channels.whatsapp_cloud import WhatsAppConfig, WhatsAppSender

            windows = dict(whatsapp_last_inbound or {})
            sender = WhatsAppSender(
                WhatsAppConfig.from_env(**cfg), status_lookup=whatsapp_status_lookup, window_lookup=windows.get
            )
        elif provider == "twilio":
            from connectors.channels.twilio_sms import TwilioConfig, TwilioSender

            sender = TwilioSender(TwilioConfig.from_env(**cfg))
        elif provider == "hubspot":
            from connectors.channels.hubspot_tasks import HubSpotTasksConfig, HubSpotTaskSender

            sender = HubSpotTaskSender(HubSpotTasksConfig.from_env(**cfg))
        else:
            from connectors.channels.dry_run import DryRunSender

            sender = DryRunSender(dry_run_dir)
        out.append((tuple(channels), sender))
    out.sort(key=lambda pair: pair[1].name == "dry_run")
    return out


def close_senders(senders: Sequence[tuple[tuple[str, ...], Sender]]) -> None:
    """Close every sender that holds connections or threads."""
    for _, sender in senders:
        close = getattr(sender, "close", None)
        if callable(close):
            close()
