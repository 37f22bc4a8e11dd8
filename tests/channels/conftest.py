"""Shared fixtures for the channel tests: a small decided day in a fresh DuckDB outbox."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "nba"))

from factories import (  # noqa: E402
    account,
    contact,
    decide,  # noqa: E402
    frames,
    invoice,
)

AS_OF = date(2026, 3, 2)
NOW = datetime(2026, 3, 2, 11, 0, tzinfo=UTC)


@pytest.fixture
def con():
    c = duckdb.connect()
    yield c
    c.close()


@pytest.fixture
def decisions():
    acc, cons, rec = frames(
        [
            account("C1", invoices=[invoice("a", "1234567.89", 45), invoice("b", "10.00", 3)], risk_score=0.9),
            account("C2", country="MX", timezone="America/Mexico_City", currency="MXN"),
            account("C3", country="BR", timezone="America/Sao_Paulo", currency="BRL"),
            account("C4"),
            account("C5", needs_dispute_review=True),
        ],
        [
            # Only a call (C1) and only WhatsApp (C2) consented: the engine's value ranking would pick
            # the cheaper e-mail otherwise, and these fixtures need one task per kind of channel.
            contact("k1", "C1", consent_call=True, consent_email=False),
            contact(
                "k2",
                "C2",
                consent_whatsapp=True,
                consent_email=False,
                preferred_channel="whatsapp",
                timezone="America/Mexico_City",
            ),
            contact("k3", "C3", language="pt", timezone="America/Sao_Paulo"),
            contact("k4", "C4", role="other"),
            contact("k5", "C5"),
        ],
    )
    return decide(acc, cons, rec, as_of=AS_OF, now_utc=NOW)
