"""An e-mail reply that says STOP withdraws e-mail consent (issue 20): the opt-out is read from the landed
e-mail event (channel ``email``, the sender's address), matched to the contact through the directory,
and the pre-send re-check cancels a queued e-mail to that contact or address; a STOP that only sits in
the quoted reminder withdraws nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import pandas as pd

from connectors.webhooks.mail import email_event
from connectors.webhooks.spool import Spool
from connectors.webhooks.store import land_events
from ml.inbound.optouts import opt_outs
from ml.nba.revalidate import opted_out


def _mail(mid: str, body: str, sender: str = "K1@X.example.com") -> bytes:
    return (
        f"From: {sender}\r\nTo: ar+C1@ar.example.com\r\nSubject: Re: Facturas\r\nMessage-ID: <{mid}@x>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body
    ).encode()


def test_stop_by_email_withdraws_email_consent_and_cancels_the_queued_email(tmp_path) -> None:
    spool = Spool(tmp_path / "spool")
    at = datetime(2026, 12, 5, 15, tzinfo=UTC)
    spool.append([email_event(_mail("a", "STOP\n\nSaludos,\nPersona 1"), received_at=at)])
    spool.append([
        email_event(_mail("b", "Pagaré el viernes.\n\nEl jue, 3 dic 2026, X <x@y.example> escribió:\n> Responda STOP",
                          sender="k2@x.example.com"), received_at=at)
    ])  # fmt: skip
    con = duckdb.connect()
    assert land_events(con, tmp_path / "spool") == 2
    con.execute(
        "create schema marts; create table marts.dim_contacts (contact_id varchar, customer_id varchar, "
        "phone varchar, email varchar, language varchar)"
    )
    con.execute(
        "insert into marts.dim_contacts values ('K1', 'C1', '+573100000001', 'k1@x.example.com', 'es'), "
        "('K2', 'C2', '+573100000002', 'k2@x.example.com', 'es')"
    )
    out = opt_outs(con)
    assert len(out) == 1, out  # the quoted STOP withdraws nothing
    row = out.iloc[0]
    assert (row["channel"], row["address"], row["customer_id"], row["contact_id"]) == (
        "email", "k1@x.example.com", "C1", "K1"
    )  # fmt: skip
    tasks = pd.DataFrame(
        {
            "task_id": ["t-email", "t-wa", "t-other"],
            "channel": ["email", "whatsapp", "email"],
            "contact_id": ["K1", "K1", "K2"],
            "payload": [{"email": "k1@x.example.com"}, {"phone": "+573100000001"}, {"email": "k2@x.example.com"}],
        }
    )
    cancelled = opted_out(tasks, out)
    assert list(cancelled["task_id"]) == ["t-email"]  # WhatsApp and the other contact still go
