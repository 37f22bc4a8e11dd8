"""The service loop: one long-running flow that runs the inbound and dispatcher passes on their intervals.

A deployment per pass (``flows/dispatcher.py`` every 5 minutes, ``flows/inbound.py`` every 2) costs a
new Python process per flow run: 10-60 s of start-up on a busy 2-core machine for 1-2 s of work.
``service_loop`` is started once (``cobranza serve``; the ``service-loop`` deployment of
``prefect.yaml``) and stays up: at each instant of its clock at which a pass is due it runs the pass as
a flow run of its own (a subflow: same state, logs and failure accounting in Prefect, no new process),
inbound first (a reply heard cancels before the dispatcher sends), then the dispatcher. A pass that
fails is logged and counted, and the loop goes on: the next pass retries (the outbox and the spool make
that safe). Passes fall on round times of the clock (``:00, :05, ...``); a clock that jumps (a machine
asleep, an accelerated clock skipping a quiet night) gets one pass per flow at the new instant. A file
clock may name the passes that have work at an instant (``connectors.clock``: a harness that posts a
reply between two windows names inbound only); a pass not named stays due for the next instant.

The clock is a parameter (``connectors.clock``): the wall clock in production; ``file:<path>`` for a
harness that advances an accelerated clock and waits for the loop's acknowledgement of each instant
(``bench/live_week.py``). The intervals are ``service.inbound_interval_minutes`` and
``service.dispatch_interval_minutes``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from prefect import flow

from cobranza import runtime
from cobranza.settings import load_settings
from flows.context import run_logger

runtime.apply_defaults()

#: The passes the loop runs, in this order at an instant where both are due.
PASSES = ("inbound", "dispatcher")


def next_due(at: datetime, minutes: int) -> datetime:
    """The first round time after ``at`` on a ``minutes`` grid (UTC, from midnight)."""
    midnight = at.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    step = timedelta(minutes=minutes)
    return midnight + step * ((at.astimezone(UTC) - midnight) // step + 1)


def _pass_flows() -> dict[str, Any]:
    from flows.dispatcher import dispatcher
    from flows.inbound import inbound

    return {"inbound": inbound, "dispatcher": dispatcher}


@flow(name="service-loop", log_prints=False)
def service_loop(
    clock: str | None = None, passes: list[str] | None = None, max_instants: int | None = None
) -> dict[str, Any]:
    """Run the inbound and dispatcher passes on their intervals until the clock says stop (or forever).

    Args:
        clock: ``None``/``"wall"`` (production) or ``"file:<path>"`` (an accelerated clock a harness drives).
        passes: Which passes to run (default: ``inbound`` and ``dispatcher``).
        max_instants: Stop after this many clock instants with a pass (tests); ``None``: until stopped.

    Returns:
        Passes run and failed per flow (when the loop stops).
    """
    from connectors.clock import ClockStopped, open_clock

    settings = load_settings()
    source = open_clock(clock)
    names = [p for p in PASSES if p in (passes or PASSES)]
    minutes = {
        "inbound": settings.service.inbound_interval_minutes,
        "dispatcher": settings.service.dispatch_interval_minutes,
    }
    flows = _pass_flows()
    due: dict[str, datetime | None] = dict.fromkeys(names)
    ran = dict.fromkeys(names, 0)
    failed = dict.fromkeys(names, 0)
    instants = 0
    log = run_logger()
    log.info("service loop on the %s clock: %s every %s minutes", source.spec, names, [minutes[n] for n in names])
    while True:
        try:
            now = source.now()
        except ClockStopped:
            break
        did = False
        asked = source.passes()
        for name in names:
            if due[name] is not None and now < due[name]:
                continue
            if asked is not None and name not in asked:
                continue  # an accelerated clock's driver knows this pass has nothing to do now: it stays due
            did = True
            try:
                flows[name](now_utc=now)
                ran[name] += 1
            except Exception as exc:  # noqa: BLE001 - the run is FAILED in Prefect; the next pass retries
                failed[name] += 1
                log.error("%s pass at %s failed (the next pass retries): %s", name, now.isoformat(), exc)
            due[name] = next_due(now, minutes[name])
        source.ack("loop", now)
        instants += did
        if max_instants is not None and instants >= max_instants:
            break
        if source.stopped():
            break
        source.wait(min(d for d in due.values() if d is not None))
    out = {"ran": ran, "failed": failed}
    log.info("service loop stopped: %s", out)
    return out


if __name__ == "__main__":  # pragma: no cover - `python -m flows.loop [file:<path>]`
    import sys

    service_loop(clock=sys.argv[1] if len(sys.argv) > 1 else None)
