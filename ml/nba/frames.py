"""The decision engine's input frames: the columns it needs and how it reads them.

Public helpers shared by :mod:`ml.nba.engine` and the decision log: which columns the dunnable
accounts and the CRM contacts must carry, how a nullable boolean or text column is read, that money
arrives as ``Decimal`` (never float), the fallback language of a country, which time zones are valid,
and the per-action summary of a day's decisions.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import pandas as pd

from ml.nba.compliance import zone

logger = logging.getLogger(__name__)

SUPPORTED_LANGUAGES = ("es", "en", "pt")
_COUNTRY_LANGUAGE = {"BR": "pt", "PT": "pt", "US": "en", "GB": "en", "CA": "en", "IE": "en"}

#: Columns the dunnable accounts (``marts.mart_dunning_accounts`` shaped by ``ml.nba.inputs``) carry.
ACCOUNT_COLUMNS = (
    "customer_id",
    "customer_name",
    "country",
    "timezone",
    "currency",
    "overdue_amount",
    "n_overdue_invoices",
    "max_days_past_due",
    "invoices",
)
#: Columns of the CRM contacts (``marts.dim_contacts``) the engine reads.
CONTACT_COLUMNS = (
    "contact_id",
    "customer_id",
    "role",
    "email",
    "phone",
    "language",
    "timezone",
    "consent_email",
    "consent_whatsapp",
    "consent_sms",
    "consent_call",
    "preferred_channel",
    "preferred_hour",
)


def require(df: pd.DataFrame, columns: tuple[str, ...], name: str) -> None:
    """Raise naming the missing columns when ``df`` lacks any of ``columns``."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} is missing columns {missing}; expected at least {list(columns)}")


def check_money(values: pd.Series) -> None:
    """Raise when an amount is not a ``Decimal`` (or int): money never travels as float."""
    bad = values[~values.map(lambda v: isinstance(v, Decimal | int))]
    if len(bad):
        raise TypeError(
            f"overdue_amount must be Decimal (money never travels as float); got {type(bad.iloc[0]).__name__} "
            f"at index {bad.index[0]!r}. Read DECIMAL columns with fetchall()/arrow, not DataFrame .df()"
        )


def as_bool(s: pd.Series) -> pd.Series:
    """A nullable boolean column with missing values read as False."""
    return s.astype("boolean").fillna(False).astype(bool)


def as_text(s: pd.Series) -> pd.Series:
    """A text column stripped, with missing values read as the empty string."""
    return s.astype("object").where(s.notna(), None).map(lambda v: str(v).strip() if v is not None else "")


def fallback_language(country: pd.Series) -> pd.Series:
    """The language used for a contact without a supported one: the country's, else Spanish."""
    return country.fillna("").str.upper().map(_COUNTRY_LANGUAGE).fillna("es")


def valid_zones(names: pd.Series) -> set[str]:
    """The distinct IANA time zones in ``names`` that exist (unknown ones are logged and left out)."""
    ok: set[str] = set()
    for name in names.dropna().unique():
        try:
            zone(str(name))
        except ValueError:
            logger.warning("ignoring unknown timezone %r", name)
            continue
        ok.add(str(name))
    return ok


def sendable(decisions: pd.DataFrame) -> pd.DataFrame:
    """The decisions that go to the outbox (everything but ``wait``)."""
    return decisions[decisions["action"] != "wait"]


def summary(decisions: pd.DataFrame) -> dict[str, Any]:
    """Counts per action and total amount at stake per currency, for logs and reports."""
    by_ccy: dict[str, Decimal] = {}
    active = sendable(decisions)
    for ccy, amt in zip(active["currency"], active["amount_at_stake"], strict=True):
        by_ccy[ccy] = by_ccy.get(ccy, Decimal(0)) + amt
    return {"actions": decisions["action"].value_counts().to_dict(), "amount_at_stake": by_ccy}
