"""The signed portal link in every outgoing message (issue 20): the daily decisions' messages get each
customer's link (``portal.links.with_portal_links``, applied by ``flows.stages.decide`` before the outbox),
the outbox keeps it in the task, and the e-mail, WhatsApp and SMS templates in es/en/pt print it; the URL
names nobody (no name, e-mail, phone or amount), only a signed token of the internal customer id."""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "channels"))

from channels_helpers import decision_rows  # noqa: E402

from connectors.channels import outbox  # noqa: E402
from connectors.channels.templates.render import render_message  # noqa: E402
from portal import tokens  # noqa: E402
from portal.links import PortalConfig, with_portal_links  # noqa: E402

CFG = PortalConfig("https://hooks.example.com/portal", "links-test-secret-0123456789abcdef")
NOW = datetime(2026, 12, 5, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize("channel", ["email", "whatsapp", "sms"])
def test_every_message_carries_the_customers_own_portal_link(channel: str) -> None:
    rows = with_portal_links(decision_rows(3, channel, countries=("CO", "US", "BR")), CFG, NOW)
    with duckdb.connect() as con:
        assert outbox.enqueue(con, rows, date(2026, 12, 5)) == 3
        tasks = con.execute("select customer_id, payload from outbox.contact_tasks order by customer_id").fetchall()
    languages = set()
    for customer_id, payload in tasks:
        data = json.loads(payload)
        link = data["payment_link"]
        assert link.startswith("https://hooks.example.com/portal/p/p1.")
        # The token opens this customer's pages and nobody else's; the URL says nothing personal.
        assert tokens.verify(CFG.secret, link.rsplit("/", 1)[1], now=NOW).customer_id == customer_id
        for personal in (data["customer_name"], data.get("contact_name"), data.get("email"), data.get("phone")):
            assert not personal or str(personal) not in link
        rendered = render_message(channel, {**data, "channel": channel})
        assert link in rendered.body and (channel != "email" or link in rendered.body_text)
        languages.add(rendered.language)
    assert languages == {"es", "en", "pt"}


def test_no_portal_configured_leaves_the_messages_as_they_were() -> None:
    rows = decision_rows(2, "sms")
    assert with_portal_links(rows, None, NOW) is rows
