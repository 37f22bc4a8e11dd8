"""Connector configuration and credentials: one typed mechanism for every source and channel.

In the spirit of dlt's ``dlt.secrets.value`` and the Meltano SDK's ``secret=True``: a credential is
a typed field of a connector's config model (``SecretStr``), and where its value comes from is
decided once, when the config is built (:meth:`EnvConfig.from_env`), never inside a function
body. For a model with ``env_section = "ODOO"`` each field is resolved, first hit wins:

1. a value passed explicitly to ``from_env`` (the CLI, tests, the channel lab, a SQL source YAML);
2. the environment variable ``COBRANZA_<SECTION>__<FIELD>`` (``COBRANZA_ODOO__API_KEY``), then any
   vendor alias the model declares (Twilio's own ``TWILIO_AUTH_TOKEN``);
3. for secret fields only, the Prefect ``Secret`` block ``cobranza-<section>-<field>``
   (``cobranza-odoo-api-key``), read when a Prefect API is configured (``PREFECT_API_URL`` in the
   environment or the active Prefect profile); a temporary server is never started for it;
4. else a ``ConnectorConfigError`` naming the variable and the block to set.

Secret values stay ``SecretStr`` from there on: ``repr``/``str``/log lines show ``**********`` and
validation errors never echo an input (``hide_input_in_errors``). The block's value is read with
``value.get_secret_value()``, not ``Secret.get()``, which would JSON-decode a token such as
``"12345"`` into a number. Which variables and blocks a model reads: :meth:`EnvConfig.secret_sources`.
"""

from __future__ import annotations

import json
import logging
import os
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError

log = logging.getLogger(__name__)

ENV_ROOT = "COBRANZA_"


class ConnectorConfigError(ValueError):
    """A connector is selected but not configured: a setting or credential is missing or invalid."""


def prefect_api_url() -> str | None:
    """The Prefect API this process talks to (environment or active profile), or None when there is none.

    Without one, ``Block.load`` would start a temporary local server: secrets are then not looked
    up in blocks at all.
    """
    env = os.environ.get("PREFECT_API_URL")
    if env:
        return env
    try:
        from prefect.settings import get_current_settings

        return get_current_settings().api.url or None
    except Exception as exc:  # noqa: BLE001 - an unreadable Prefect profile means "no API"
        log.debug("Prefect settings not readable: %s", type(exc).__name__)
        return None


def read_secret_block(name: str) -> tuple[str | None, str]:
    """Read the text of the Prefect ``Secret`` block ``name``.

    Args:
        name: Block document name (``cobranza-odoo-api-key``).

    Returns:
        ``(value, why_not)``: the secret, or None with the reason it could not be read (no Prefect
        API configured, no such block, the API unreachable, a block holding a non-text value).
        The reason never carries the value.
    """
    api = prefect_api_url()
    if not api:
        return None, "no Prefect API is configured (PREFECT_API_URL), so Secret blocks were not read"
    try:
        from prefect.blocks.system import Secret

        block = Secret.load(name)
    except ValueError:  # Prefect: "Unable to find block document named ..."
        return None, f"the Prefect API at {api} has no Secret block {name!r}"
    except Exception as exc:  # noqa: BLE001 - network or server trouble: say so, go on to the error
        return None, f"the Prefect API at {api} could not be read ({type(exc).__name__})"
    value = block.value.get_secret_value()
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None, f"Secret block {name!r} holds a {type(value).__name__}, not a text secret"
    text = str(value)
    return (text, "") if text else (None, f"Secret block {name!r} is empty")


def _is_secret(annotation: Any) -> bool:
    if annotation is SecretStr:
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return any(_is_secret(a) for a in typing.get_args(annotation))
    return False


def _is_structured(annotation: Any) -> bool:
    """Dict/list fields: their environment value is JSON (as pydantic-settings reads it)."""
    if annotation in (dict, list):
        return True
    origin = typing.get_origin(annotation)
    if origin in (dict, list):
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_is_structured(a) for a in typing.get_args(annotation))
    return False


class EnvConfig(BaseModel):
    """Base of every connector config model read from the environment and Prefect Secret blocks.

    Subclasses set ``env_section`` (``ODOO`` -> ``COBRANZA_ODOO__<FIELD>``), optionally ``label``
    (for messages), ``env_aliases`` (field -> extra variable names, e.g. a vendor's own),
    ``block_fields`` (non-secret fields also read from blocks, e.g. an account id kept beside its
    token) and ``config_error`` (the exception raised, a subclass of the caller's choice).
    Building the model directly (``Model(...)``/``model_validate``) reads nothing: only
    :meth:`from_env` resolves.
    """

    model_config = ConfigDict(hide_input_in_errors=True)

    env_section: ClassVar[str] = ""
    label: ClassVar[str] = ""
    env_aliases: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    block_fields: ClassVar[tuple[str, ...]] = ()
    config_error: ClassVar[type[Exception]] = ConnectorConfigError

    @classmethod
    def env_var(cls, field: str) -> str:
        """The environment variable of ``field`` (``COBRANZA_ODOO__API_KEY``)."""
        return f"{ENV_ROOT}{cls.env_section}__{field.upper()}"

    @classmethod
    def block_name(cls, field: str) -> str:
        """The Prefect Secret block of ``field`` (``cobranza-odoo-api-key``)."""
        return f"cobranza-{cls.env_section.lower()}-{field.replace('_', '-')}"

    @classmethod
    def secret_field_names(cls) -> list[str]:
        """Fields typed ``SecretStr`` (credentials), in declaration order."""
        return [name for name, info in cls.model_fields.items() if _is_secret(info.annotation)]

    @classmethod
    def secret_sources(cls) -> dict[str, tuple[str, ...]]:
        """Field -> where it may come from: its variable, its aliases and its Prefect Secret block."""
        out: dict[str, tuple[str, ...]] = {}
        for name in cls.model_fields:
            if name in cls.secret_field_names() or name in cls.block_fields:
                out[name] = (cls.env_var(name), *cls.env_aliases.get(name, ()), f"block {cls.block_name(name)}")
        return out

    @classmethod
    def from_env(cls, **overrides: Any) -> Self:
        """Build the config: explicit values, then the environment, then Prefect Secret blocks.

        Args:
            **overrides: Values that win over the environment and blocks (an explicit None too,
                e.g. ``rate_limit_per_s=None`` for no limit).

        Returns:
            The validated config.

        Raises:
            ConnectorConfigError: (or the model's ``config_error``) A required field is missing (the
                message names its variable and, for a credential, its Prefect Secret block) or a
                value is invalid (named by field and variable, never echoing the value).
        """
        # Unknown keys pass through so a model that forbids extras still refuses them by name.
        values: dict[str, Any] = {k: v for k, v in overrides.items() if k not in cls.model_fields}
        origin: dict[str, str] = {}
        secrets = set(cls.secret_field_names())
        for name, info in cls.model_fields.items():
            key = info.alias if info.alias and info.alias in overrides else name
            if key in overrides:
                values.pop(key, None)
                values[name] = overrides[key]
                continue
            found, where = cls._from_environment(name, secret=name in secrets)
            if found is None:
                continue
            if _is_structured(info.annotation):
                try:
                    found = json.loads(found)
                except ValueError:
                    raise cls.config_error(
                        f"{cls._label()}: {where} must be JSON (a mapping or a list), as written it is not"
                    ) from None
            values[name], origin[name] = found, where
        why_not: dict[str, str] = {}
        for name in cls.model_fields:
            if name in values or not (name in secrets or name in cls.block_fields):
                continue
            found, why = read_secret_block(cls.block_name(name))
            if found is not None:
                values[name], origin[name] = found, f"Prefect Secret block {cls.block_name(name)!r}"
            else:
                why_not[name] = why
        missing = [n for n, info in cls.model_fields.items() if info.is_required() and n not in values]
        if missing:
            raise cls.config_error(cls._missing_message(missing, why_not))
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"])
                field = str(err["loc"][0]) if err["loc"] else ""
                src = f" (from {origin[field]})" if field in origin else ""
                problems.append(f"{loc or 'config'}: {err['msg']}{src}")
            raise cls.config_error(f"{cls._label()}: invalid configuration: {'; '.join(problems)}") from None

    @classmethod
    def _from_environment(cls, name: str, *, secret: bool) -> tuple[str | None, str]:
        for var in (cls.env_var(name), *cls.env_aliases.get(name, ())):
            value = os.environ.get(var)
            # An empty credential is no credential (a blank line in an env file): try the next place.
            if value is not None and (value or not secret):
                return value, f"environment variable {var}"
        return None, ""

    @classmethod
    def _label(cls) -> str:
        return cls.label or cls.__name__

    @classmethod
    def _missing_message(cls, missing: list[str], why_not: Mapping[str, str]) -> str:
        parts = []
        for name in missing:
            places = [cls.env_var(name), *cls.env_aliases.get(name, ())]
            where = " or ".join(places)
            if name in why_not:
                where += f" or the Prefect Secret block {cls.block_name(name)!r}"
            parts.append(where)
        reasons = sorted({why_not[n] for n in missing if why_not.get(n)})
        tail = f" ({'; '.join(reasons)})" if reasons else ""
        return f"{cls._label()} is not configured: set {'; '.join(parts)}{tail}"
