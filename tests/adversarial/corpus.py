"""The adversarial corpus's one shape: a case, its category and the outcome it must end in.

Every hostile input or fault the project has met (or an attacker or a flaky provider could produce)
is a :class:`Case` in one of the ``test_*.py`` modules of this folder, listed in that module's
``CASES`` and exercised by a test parametrised over it. A case ends in exactly one of three ways
(DESIGN.md §9, "Bad input and faults"):

- ``quarantined``: the bad part is set aside with a reason that names the file and record, and the
  good part proceeds;
- ``refused``: the whole input is refused loudly (an error naming the file/record and the problem,
  or a 4xx answer), nothing of it lands;
- ``landed_once``: the input is valid (or its fault is recoverable) and lands exactly once: no row
  lost, none counted twice, no message sent twice.

``python -m tests.adversarial.census`` prints the corpus size by category and outcome (the figures
in bench/RESULTS.md); ``test_census.py`` keeps the corpus honest (unique ids, known categories and
outcomes, at least 150 cases).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["quarantined", "refused", "landed_once"]

OUTCOMES: tuple[str, ...] = ("quarantined", "refused", "landed_once")

#: The categories of the corpus, as the hardening issue names them.
CATEGORIES: dict[str, str] = {
    "bank_files": "bank statements (camt.052/053/054, MT940/942, BAI2, CSV) in the statements folder",
    "erp_crm_drops": "ERP/CRM file drops (CSV, Parquet, JSON) and SQL rows",
    "api_pages": "pages of the paged source APIs (Odoo JSON-RPC, HubSpot)",
    "webhooks": "provider webhooks and one-click unsubscribe requests to the receiver",
    "provider_faults": "channel providers: timeouts and 5xx after acceptance, index lag, 429 storms, kill -9",
    "templates_report": "message templates and the KPI report fed hostile text",
    "portal": "the debtor portal's signed links, forms, attachments and the payment provider's webhook",
    "debtor_messages": "debtor replies read by the message reader and cobranza read-reply",
    "service_stores": "the service's lock files and operational store: damaged, foreign, from a newer version",
}


@dataclass(frozen=True)
class Case:
    """One adversarial case.

    Attributes:
        id: unique, short, kebab-case (``mt940-wrapped-86``); the pytest id.
        category: a key of :data:`CATEGORIES`.
        expect: the outcome the case must end in (one of :data:`OUTCOMES`).
        description: what is hostile about the input, in one sentence.
        payload: whatever the module's test needs to build the input (bytes, rows, a fault plan).
        reason: a fragment the quarantine reason or refusal message must contain, when one applies.
    """

    id: str
    category: str
    expect: Outcome
    description: str
    payload: Any = field(default=None, compare=False)
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"case {self.id}: unknown category {self.category!r}; use one of {sorted(CATEGORIES)}")
        if self.expect not in OUTCOMES:
            raise ValueError(f"case {self.id}: unknown outcome {self.expect!r}; use one of {OUTCOMES}")


def case_ids(cases: list[Case]) -> list[str]:
    """The pytest ids of ``cases`` (``ids=case_ids(CASES)`` in ``parametrize``)."""
    return [c.id for c in cases]
