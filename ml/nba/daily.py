"""The daily decision: read what the engine needs from the warehouse and decide one business day.

:func:`decide_day` is what the daily flow's decide stage calls (and the CLI's ``cobranza decide``):
it honours "a business day is decided once" (:mod:`ml.nba.decision_log`), reads the dunnable
accounts, the day's scores and explanations, the contacts with the opt-outs landed from the webhooks,
the interactions and escalations of the configured windows (point in time: nothing after the decision
clock), and runs :func:`ml.nba.engine.decide`. Writing the outbox and the decision log is left to the
caller (two owners: ``connectors.channels.outbox`` and :mod:`ml.nba.decision_log`), as is reading the
outbox's recent contacts, passed in as ``recent_contacts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import duckdb
import pandas as pd

from ml.alerts import lifecycle
from ml.inbound import optouts, portal_events
from ml.nba import decision_log, revalidate
from ml.nba.engine import decide
from ml.nba.holds import apply_alert_holds
from ml.nba.inputs import (
    accounts_for_decision,
    config_from,
    drop_settled_invoices,
    latest_usd_rates,
    relaxations_from,
)
from ml.nba.value import NbaConfig

#: The warehouse tables the daily decision reads (dbt marts and the scores of ``ml.score``).
ACCOUNTS = "marts.mart_dunning_accounts"
CONTACTS = "marts.dim_contacts"
INTERACTIONS = "marts.fct_interactions"
OPEN_FEATURES = "marts.ml_open_invoice_features"
FX_RATES = "reference.fx_rates"


@dataclass(frozen=True)
class DayDecisions:
    """The decisions of one business day, and whether they were already stored before this call."""

    decisions: pd.DataFrame
    already_decided: bool


def _frame(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> pd.DataFrame:
    # Through Arrow: DECIMAL stays Decimal (``.df()`` would make money a float).
    return con.sql(sql, params=params or None).to_arrow_table().to_pandas()


def config_for_day(con: duckdb.DuckDBPyConnection, nba: Mapping[str, Any], as_of: date) -> NbaConfig:
    """The engine's configuration: the ``nba`` settings (as a dict) with the USD rates valid on ``as_of``.

    Args:
        con: Warehouse connection (``reference.fx_rates``).
        nba: The ``nba`` settings section, e.g. ``settings.nba.model_dump()``.
        as_of: The run date.
    """
    fx = _frame(con, f"select * from {FX_RATES}")
    return config_from(nba, latest_usd_rates(fx, as_of), relaxations_from(nba.get("relaxations") or ()))


def decide_day(
    con: duckdb.DuckDBPyConnection,
    *,
    as_of: date,
    now_utc: datetime,
    config: NbaConfig,
    recent_contacts: pd.DataFrame,
    scores_table: str,
    explanations_table: str,
) -> DayDecisions:
    """Decide business day ``as_of`` (or return its stored decisions when it was already decided).

    Args:
        con: Warehouse connection after the day's dbt build and scoring.
        as_of: The run date.
        now_utc: The decision clock (slots are proposed after it; interactions after it are unseen).
        config: The engine's configuration (:func:`config_for_day`); its ``*_days`` fields set the
            history windows read here.
        recent_contacts: Contacts already made or scheduled, from the outbox
            (``connectors.channels.outbox.recent_contacts`` over ``config.recent_contact_days``).
        scores_table: The day's invoice scores (``ml.score.SCORES_TABLE``).
        explanations_table: Their explanations (``ml.score.EXPLANATIONS_TABLE``), optional in the warehouse.

    Returns:
        The decisions (:data:`ml.nba.engine.OUTPUT_COLUMNS`) and whether they were stored already.
    """
    done = decision_log.decided(con, as_of)
    if done is not None:
        return DayDecisions(done, already_decided=True)
    mart = _frame(con, f"select * from {ACCOUNTS} order by customer_id")
    scores = _frame(con, f"select * from {scores_table} where as_of_date = ?", [as_of])
    contacts = _frame(con, f"select * from {CONTACTS} order by contact_id")
    # Opt-outs landed from the webhooks (unsubscribe links, STOP replies) withdraw consent now, not
    # when the CRM catches up: the same withdrawals the pre-send re-check applies.
    contacts = revalidate.apply_opt_outs(contacts, optouts.opt_outs(con))
    # Point in time: a back-filled run must not see the contacts its own later dispatch made.
    interactions = _frame(
        con,
        f"select * from {INTERACTIONS} where occurred_at >= cast(? as date) - to_days(cast(? as integer)) "
        "and occurred_at <= cast(? as timestamp)",
        [as_of, config.interaction_history_days, now_utc.astimezone(UTC).replace(tzinfo=None)],
    )
    escalations = decision_log.escalations(con, as_of, config.escalation_lookback_days)
    explanations = (
        _frame(con, f"select * from {explanations_table} where as_of_date = ?", [as_of])
        if decision_log.exists(con, explanations_table)
        else None
    )
    features = (
        _frame(con, f"select * from {OPEN_FEATURES} order by invoice_id")
        if decision_log.exists(con, OPEN_FEATURES)
        else None
    )
    accounts = accounts_for_decision(mart, scores, explanations, features)
    # Paid by pay link or disputed on the portal: known from the webhooks before the bank or the CRM.
    accounts = drop_settled_invoices(accounts, portal_events.settled_online(con)["invoice_id"])
    decisions = decide(
        accounts,
        contacts,
        recent_contacts,
        as_of=as_of,
        now_utc=now_utc,
        config=config,
        interactions=interactions,
        escalations=escalations,
    )
    # open early-warning alerts hold written contacts and suggest credit holds (ml.nba.holds)
    decisions = apply_alert_holds(decisions, lifecycle.holds(con))
    return DayDecisions(decisions, already_decided=False)
