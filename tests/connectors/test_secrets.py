"""Every connector credential resolves the same way (``connectors.secrets``): env, Prefect block, clear error.

The seven credentials of the brief (Odoo API key, HubSpot access token, SQL URL and password, SMTP
password, Twilio auth token, WhatsApp token, HubSpot tasks token) are ``SecretStr`` fields of their
config models; each test goes through the model's real ``from_env``: the environment path, the
Prefect Secret block path (against the session's real Prefect API, ``prefect_harness``), and the
error naming both places when neither holds it. Values never show in a repr or an error.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import SecretStr

from connectors.channels.base import ChannelConfigError
from connectors.channels.hubspot_tasks import HubSpotTasksConfig
from connectors.channels.smtp import SmtpConfig
from connectors.channels.twilio_sms import TwilioConfig
from connectors.channels.whatsapp_cloud import WhatsAppConfig
from connectors.secrets import ConnectorConfigError, EnvConfig, prefect_api_url
from connectors.sources.hubspot import HubSpotConfig
from connectors.sources.odoo import OdooConfig
from connectors.sources.sql import load_sql_config
from connectors.sources.sql.config import SqlSourceConfig

SQL_STREAMS = {"raw_erp.customers": {"table": "customers"}}

# (model, secret field, the other values a valid config needs, variable, block)
CREDENTIALS: list[tuple[type[EnvConfig], str, dict[str, Any], str, str]] = [
    (
        OdooConfig,
        "api_key",
        {"url": "http://127.0.0.1:1", "db": "acme", "login": "bot@acme.test"},
        "COBRANZA_ODOO__API_KEY",
        "cobranza-odoo-api-key",
    ),
    (HubSpotConfig, "access_token", {}, "COBRANZA_HUBSPOT__ACCESS_TOKEN", "cobranza-hubspot-access-token"),
    (SqlSourceConfig, "url", {"streams": SQL_STREAMS}, "COBRANZA_SQL__URL", "cobranza-sql-url"),
    (
        SqlSourceConfig,
        "password",
        {"url": "postgresql://reader@127.0.0.1:5432/erp", "streams": SQL_STREAMS},
        "COBRANZA_SQL__PASSWORD",
        "cobranza-sql-password",
    ),
    (SmtpConfig, "password", {"from_address": "ar@acme.test"}, "COBRANZA_SMTP__PASSWORD", "cobranza-smtp-password"),
    (
        TwilioConfig,
        "auth_token",
        {"account_sid": "AC0123", "from_number": "+15550001234"},
        "COBRANZA_TWILIO__AUTH_TOKEN",
        "cobranza-twilio-auth-token",
    ),
    (WhatsAppConfig, "token", {"phone_number_id": "1055"}, "COBRANZA_WHATSAPP__TOKEN", "cobranza-whatsapp-token"),
    (
        HubSpotTasksConfig,
        "access_token",
        {},
        "COBRANZA_HUBSPOT__ACCESS_TOKEN",
        "cobranza-hubspot-access-token",
    ),
]
IDS = [f"{m.__name__}.{f}" for m, f, *_ in CREDENTIALS]
# Legacy / vendor names still read (documented in the channel configs).
ALIASES = ("COBRANZA_SMTP_PASSWORD", "TWILIO_AUTH_TOKEN", "COBRANZA_WHATSAPP_TOKEN", "COBRANZA_HUBSPOT_TOKEN")


@pytest.fixture(autouse=True)
def _no_credentials_in_env(monkeypatch) -> None:
    """Start every test with none of the credentials in the environment (nor its aliases)."""
    for _, _, _, var, _ in CREDENTIALS:
        monkeypatch.delenv(var, raising=False)
    for var in ALIASES:
        monkeypatch.delenv(var, raising=False)


def _value(field: str) -> str:
    # A password-shaped value for the SQL URL would not be a URL: give it one.
    token = f"s3cret-{uuid.uuid4().hex[:12]}"
    return f"postgresql://reader:{token}@127.0.0.1:5432/erp" if field == "url" else token


def _secret(config: EnvConfig, field: str) -> str:
    value = getattr(config, field)
    assert isinstance(value, SecretStr), f"{field} must stay a SecretStr"
    return value.get_secret_value()


@pytest.mark.parametrize(("model", "field", "others", "var", "block"), CREDENTIALS, ids=IDS)
def test_secret_from_the_environment(model, field, others, var, block, monkeypatch) -> None:
    value = _value(field)
    monkeypatch.setenv(var, value)
    config = model.from_env(**others)
    assert _secret(config, field) == value
    assert model.env_var(field) == var and model.block_name(field) == block
    assert value not in repr(config) and value not in str(config)
    assert value not in str(config.model_dump())  # SecretStr dumps as '**********'


@pytest.mark.parametrize(("model", "field", "others", "var", "block"), CREDENTIALS, ids=IDS)
def test_missing_secret_names_the_variable_and_the_block(model, field, others, var, block) -> None:
    if not model.model_fields[field].is_required():
        assert getattr(model.from_env(**others), field) is None  # optional: absent is fine
        return
    with pytest.raises(ConnectorConfigError) as info:
        model.from_env(**others)
    message = str(info.value)
    assert var in message and repr(block) in message, message
    assert "is not configured" in message
    # It says why no block was read: no Prefect API (alone), or no such block (after the harness started).
    why = "no Prefect API is configured" if prefect_api_url() is None else f"has no Secret block {block!r}"
    assert why in message, message


def test_channel_configs_raise_the_channel_error() -> None:
    with pytest.raises(ChannelConfigError, match="COBRANZA_TWILIO__AUTH_TOKEN or TWILIO_AUTH_TOKEN"):
        TwilioConfig.from_env(account_sid="AC0123", from_number="+15550001234")


def test_vendor_alias_is_read_after_the_cobranza_variable(monkeypatch) -> None:
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "from-twilio-var-1234")
    cfg = TwilioConfig.from_env(account_sid="AC0123", from_number="+15550001234")
    assert cfg.auth_token.get_secret_value() == "from-twilio-var-1234"
    monkeypatch.setenv("COBRANZA_TWILIO__AUTH_TOKEN", "from-cobranza-var-1234")
    cfg = TwilioConfig.from_env(account_sid="AC0123", from_number="+15550001234")
    assert cfg.auth_token.get_secret_value() == "from-cobranza-var-1234"


def test_invalid_value_is_named_without_echoing_secrets(monkeypatch) -> None:
    monkeypatch.setenv("COBRANZA_ODOO__API_KEY", "key-that-must-not-leak")
    monkeypatch.setenv("COBRANZA_ODOO__PAGE_SIZE", "lots")
    with pytest.raises(ConnectorConfigError) as info:
        OdooConfig.from_env(url="http://127.0.0.1:1", db="acme", login="bot@acme.test")
    message = str(info.value)
    assert "page_size" in message and "COBRANZA_ODOO__PAGE_SIZE" in message
    assert "key-that-must-not-leak" not in message and "lots" not in message


def test_structured_fields_read_json_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("COBRANZA_HUBSPOT__ACCESS_TOKEN", "pat-1234567")
    monkeypatch.setenv("COBRANZA_HUBSPOT__INTERACTION_PROPERTIES", '{"channel": "my_channel"}')
    assert HubSpotConfig.from_env().interaction_properties == {"channel": "my_channel"}
    monkeypatch.setenv("COBRANZA_HUBSPOT__INTERACTION_PROPERTIES", "channel=my_channel")
    with pytest.raises(ConnectorConfigError, match="COBRANZA_HUBSPOT__INTERACTION_PROPERTIES must be JSON"):
        HubSpotConfig.from_env()


# --- SQL source YAML ----------------------------------------------------------------------------


def _yaml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "erp_sql.yml"
    path.write_text(text)
    return path


def test_sql_yaml_without_url_takes_url_and_password_from_the_environment(tmp_path, monkeypatch) -> None:
    path = _yaml(tmp_path, "schema: erp\nstreams:\n  raw_erp.customers: {table: customers}\n")
    monkeypatch.setenv("COBRANZA_SQL__URL", "postgresql://reader@db.internal:5432/erp")
    monkeypatch.setenv("COBRANZA_SQL__PASSWORD", "pw-from-env-9876")
    cfg = load_sql_config(path)
    assert cfg.sa_url().password == "pw-from-env-9876"
    assert "pw-from-env-9876" not in cfg.redacted_url() and "***" in cfg.redacted_url()
    assert "pw-from-env-9876" in (cfg.connectorx_url() or "")  # connectorx gets it, nothing else


def test_sql_yaml_refuses_a_password_and_names_where_it_belongs(tmp_path) -> None:
    path = _yaml(tmp_path, "url: postgresql://reader@db/erp\npassword: hunter22\nstreams: {}\n")
    with pytest.raises(ValueError) as info:
        load_sql_config(path)
    message = str(info.value)
    assert str(path) in message and "COBRANZA_SQL__PASSWORD" in message and "cobranza-sql-password" in message
    assert "hunter22" not in message


def test_sql_yaml_without_any_url_names_file_variable_and_block(tmp_path) -> None:
    path = _yaml(tmp_path, "streams:\n  raw_erp.customers: {table: customers}\n")
    with pytest.raises(ValueError) as info:
        load_sql_config(path)
    message = str(info.value)
    assert str(path) in message and "COBRANZA_SQL__URL" in message and "'cobranza-sql-url'" in message


def test_sql_yaml_unknown_key_is_still_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("COBRANZA_SQL__URL", "postgresql://reader@db/erp")
    path = _yaml(tmp_path, "streams: {}\nshcema: erp\n")
    with pytest.raises(ValueError, match="shcema"):
        load_sql_config(path)


# --- Prefect Secret blocks (a real Prefect API: the session's test harness) ---------------------


@pytest.fixture(scope="module")
def blocks(prefect_harness):
    """Save one Secret block per credential on the harness API; delete them afterwards."""
    from prefect.blocks.system import Secret

    saved: dict[str, str] = {}
    for _, field, _, _, block in CREDENTIALS:
        if block in saved:
            continue  # the HubSpot source and the tasks channel share one portal token
        # Digits only for one of them: Secret.get() would JSON-decode it into a number.
        value = "12345678" if block == "cobranza-smtp-password" else _value(field)
        Secret(value=value).save(block, overwrite=True)
        saved[block] = value
    # Not a credential, but kept beside Twilio's token (TwilioConfig.block_fields).
    Secret(value="AC-from-a-block").save("cobranza-twilio-account-sid", overwrite=True)
    saved["cobranza-twilio-account-sid"] = "AC-from-a-block"
    yield saved
    for block in saved:
        Secret.delete(block)


@pytest.mark.parametrize(("model", "field", "others", "var", "block"), CREDENTIALS, ids=IDS)
def test_secret_from_a_prefect_block(model, field, others, var, block, blocks, monkeypatch) -> None:
    config = model.from_env(**others)
    assert _secret(config, field) == blocks[block]
    assert blocks[block] not in repr(config)
    # The environment wins over the block.
    monkeypatch.setenv(var, _value(field))
    assert _secret(model.from_env(**others), field) != blocks[block]


class _Probe(EnvConfig):
    """A config whose block nobody saved (the module's blocks exist for the real models)."""

    env_section: ClassVar[str] = "PROBE"
    label: ClassVar[str] = "Probe channel"
    token: SecretStr


def test_account_sid_from_its_block_beside_the_token(blocks, monkeypatch) -> None:
    monkeypatch.delenv("COBRANZA_TWILIO__ACCOUNT_SID", raising=False)
    monkeypatch.delenv("TWILIO_ACCOUNT_SID", raising=False)
    cfg = TwilioConfig.from_env(from_number="+15550001234")
    assert cfg.account_sid == "AC-from-a-block"
    assert cfg.auth_token.get_secret_value() == blocks["cobranza-twilio-auth-token"]


def test_missing_block_is_named_with_the_api_it_asked(prefect_harness, monkeypatch) -> None:
    monkeypatch.delenv("COBRANZA_PROBE__TOKEN", raising=False)
    with pytest.raises(ConnectorConfigError) as info:
        _Probe.from_env()
    message = str(info.value)
    assert message.startswith("Probe channel is not configured: set COBRANZA_PROBE__TOKEN or the Prefect Secret block")
    assert f"the Prefect API at {prefect_api_url()} has no Secret block 'cobranza-probe-token'" in message, message
