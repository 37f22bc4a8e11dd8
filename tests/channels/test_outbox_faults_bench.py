"""A small run of bench/outbox_faults.py: four real providers, 30% of sends answered 504 after
acceptance, the dispatcher killed with SIGKILL twice, then restarted until the outbox drains."""

from __future__ import annotations

import pytest

from bench.outbox_faults import run


@pytest.mark.slow
def test_kill9_and_504_after_acceptance_never_duplicate_nor_lose(tmp_path) -> None:
    figures = run(per_channel=30, kills=2, fault_rate=0.3, seed=5, workdir=tmp_path)
    assert figures["tasks"] == 120
    injected = sum(n for plan in figures["faults_injected"].values() for n in plan.values())
    assert injected >= 15, figures["faults_injected"]
    assert figures["duplicates"] == 0 and figures["max_deliveries"] == 1, figures["problems"]
    assert figures["lost"] == 0, figures["problems"]
    # Every task ends delivered once or dead-lettered; SMS and call tasks, whose providers can be
    # asked, are all delivered exactly once despite the 504s.
    settled = (
        figures["exactly_once"]
        + figures["dead_not_delivered"]
        + figures["ambiguous_dead_delivered"]
        + figures["ambiguous_dead_not_delivered"]
    )
    assert settled == 120
    assert figures["by_channel"]["sms"] == {"exactly_once": 30}
    assert figures["by_channel"]["call"] == {"exactly_once": 30}
    # An e-mail whose 250 was lost is never resent: dead-lettered as possibly delivered (a kill
    # between the relay's 250 and the outcome's write adds to these).
    lost_250 = figures["faults_injected"]["smtp"].get("504_after", 0)
    assert figures["by_channel"]["email"].get("ambiguous_dead_delivered", 0) >= lost_250 > 0
