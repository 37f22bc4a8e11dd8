"""connectors.http.HTTPClient: a call that creates something is never retried after it may have been
processed (5xx after acceptance, timeout), while reads keep retrying and 429 stays safe to retry."""

from __future__ import annotations

import pytest

from connectors.http import HTTPClient, RetryPolicy, SourceHTTPError
from simulator.emulators.channel_common import FaultPlan
from simulator.emulators.server import serve
from simulator.emulators.whatsapp import WhatsAppEmulator


def _message(to: str) -> dict:
    return {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": "hola"}}


@pytest.fixture
def whatsapp():
    emu = WhatsAppEmulator(faults=FaultPlan(hang_s=1.0, retry_after="0.01"))
    with serve(emu.app) as srv:
        client = HTTPClient(
            srv.base_url,
            name="wa-test",
            headers={"Authorization": f"Bearer {emu.token}"},
            read_timeout=0.4,
            retry=RetryPolicy(max_attempts=4, backoff_base=0.01, backoff_max=0.05),
            sleep=lambda s: None,
        )
        yield emu, client, f"v21.0/{emu.phone_number_id}/messages"
        client.close()


@pytest.mark.parametrize("fault", ["504_after", "timeout_after"])
def test_a_create_is_not_retried_after_it_may_have_been_processed(whatsapp, fault) -> None:
    emu, client, path = whatsapp
    emu.faults.script(fault)
    with pytest.raises(SourceHTTPError) as err:
        client.request("POST", path, json_body=_message("573100000001"), idempotent=False)
    assert err.value.ambiguous and "may have been processed" in str(err.value)
    assert len(emu.messages) == 1  # accepted once, never sent again


def test_the_same_fault_on_a_read_style_call_is_retried(whatsapp) -> None:
    """What the senders did before: the default (idempotent) call retries the 504 and sends twice."""
    emu, client, path = whatsapp
    emu.faults.script("504_after")
    assert client.request("POST", path, json_body=_message("573100000002")).status_code == 200
    assert len(emu.messages) == 2 and client.stats.retries == 1


def test_429_is_retried_for_creates(whatsapp) -> None:
    emu, client, path = whatsapp
    emu.faults.script("429", "429")
    resp = client.request("POST", path, json_body=_message("573100000003"), idempotent=False)
    assert resp.status_code == 200 and len(emu.messages) == 1 and client.stats.retries == 2
