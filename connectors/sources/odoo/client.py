"""Odoo JSON-RPC client (``POST /jsonrpc``), CONNECTORS.md §2.1.

Login is ``common.authenticate(db, login, key, {})`` (an int uid, or ``False`` on bad credentials);
every data call is a stateless ``object.execute_kw(db, uid, key, model, method, args, kwargs)``.
Errors come back with HTTP 200 and an ``error`` member
(``{"code": 200, "message": "Odoo Server Error", "data": {"name": "odoo.exceptions.AccessError", ...}}``)
and are raised as ``OdooRPCError`` with the exception name, Odoo's message and what to do. The API
key travels in every request body, so it is registered with the shared client's redactor and never
appears in logs or errors.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

from connectors.http import HTTPClient, RetryPolicy, SourceAuthError, SourceHTTPError
from connectors.load import SourceDataError
from connectors.sources.odoo.config import ENV_PREFIX, OdooConfig

log = logging.getLogger(__name__)

# Where the key comes from (connectors.secrets): named in every hint about refused credentials.
KEY_ENV = f"{OdooConfig.env_var('api_key')} (or the Prefect Secret block {OdooConfig.block_name('api_key')!r})"


class OdooRPCError(SourceHTTPError):
    """Odoo answered a JSON-RPC call with an ``error`` object (HTTP 200)."""


def _hint_for(name: str, model: str | None) -> str:
    if name.endswith("AccessDenied"):
        return f"the login or API key was refused; check {ENV_PREFIX}LOGIN and {KEY_ENV}"
    if name.endswith("AccessError"):
        return (
            f"the integration user may not read {model or 'this model'}; give it the Accounting/Invoicing read rights"
        )
    if "Session" in name or name.endswith("SessionExpiredException"):
        return "the session expired; re-run (the connector authenticates again)"
    if name.endswith(("ValidationError", "UserError", "ValueError")):
        return "Odoo refused the request; check the domain/field names against this Odoo version (fields_get)"
    return "see the Odoo server log for the traceback"


class OdooClient:
    """Calls Odoo's JSON-RPC endpoint through the shared HTTP client.

    Args:
        config: Connection settings.
        http: A preconfigured client (tests); by default one is built from ``config``.
    """

    def __init__(self, config: OdooConfig, http: HTTPClient | None = None) -> None:
        self.config = config
        key = config.api_key.get_secret_value()
        self.http = http or HTTPClient(
            config.url,
            name="odoo",
            secrets=[key],
            connect_timeout=config.connect_timeout,
            read_timeout=config.timeout,
            retry=RetryPolicy(max_attempts=config.max_attempts),
            rate_limit_per_s=config.rate_limit_per_s,
            hints={401: f"check {KEY_ENV}", 403: f"check the Odoo user's access rights and {KEY_ENV}"},
        )
        self.http.redact.add(key)
        self._ids = itertools.count(1)
        self._uid: int | None = None

    @property
    def endpoint(self) -> str:
        """The JSON-RPC URL."""
        return self.http.url("/jsonrpc")

    def call(self, service: str, method: str, *args: Any, model: str | None = None) -> Any:
        """One JSON-RPC ``call``; return its ``result`` or raise ``OdooRPCError``.

        Args:
            service: ``common`` or ``object``.
            method: Service method (``authenticate``, ``version``, ``execute_kw``).
            *args: Positional arguments of the service method.
            model: Model name, only used to word errors.

        Returns:
            The ``result`` member of the answer.

        Raises:
            OdooRPCError: Odoo returned an ``error`` object.
            SourceDataError: The answer is not a JSON-RPC response.
        """
        payload = {
            "jsonrpc": "2.0",
            "method": "call",
            "id": next(self._ids),
            "params": {"service": service, "method": method, "args": list(args)},
        }
        body = self.http.request_json("POST", "/jsonrpc", json_body=payload)
        if not isinstance(body, dict) or ("result" not in body and "error" not in body):
            got = sorted(body) if isinstance(body, dict) else type(body).__name__
            raise SourceDataError(
                f"POST {self.endpoint}: not a JSON-RPC answer (got {got}); check that the URL points at an Odoo server"
            )
        if "error" in body:
            err = body["error"] or {}
            data = err.get("data") or {}
            name = str(data.get("name") or err.get("message") or "unknown error")
            message = self.http.redact(data.get("message") or err.get("message") or "")
            where = f"{service}.{method}" + (f" on {model}" if model else "")
            cls = SourceAuthError if name.endswith("AccessDenied") else OdooRPCError
            raise cls(
                "POST",
                self.endpoint,
                200,
                provider_message=f"{name}: {message}",
                hint=_hint_for(name, model),
                what=f"Odoo error in {where} (JSON-RPC code {err.get('code')})",
            )
        return body["result"]

    def version(self) -> dict[str, Any]:
        """``common.version()``: server version info (no credentials needed)."""
        return self.call("common", "version")

    def authenticate(self) -> int:
        """Log in and cache the uid.

        Raises:
            SourceAuthError: Odoo returned ``False`` (unknown db, login or key).
        """
        c = self.config
        uid = self.call("common", "authenticate", c.db, c.login, c.api_key.get_secret_value(), {})
        if not uid:
            raise SourceAuthError(
                "POST",
                self.endpoint,
                200,
                provider_message=f"authenticate returned {uid!r} for db {c.db!r} and login {c.login!r}",
                hint=f"check {ENV_PREFIX}DB, {ENV_PREFIX}LOGIN and {KEY_ENV}: an API key from the user's preferences",
                what="Odoo refused the credentials",
            )
        self._uid = int(uid)
        return self._uid

    @property
    def uid(self) -> int:
        """The logged-in user id (authenticates on first use)."""
        return self._uid if self._uid is not None else self.authenticate()

    def execute_kw(self, model: str, method: str, args: list, kwargs: dict | None = None) -> Any:
        """``object.execute_kw(db, uid, key, model, method, args, kwargs)``."""
        c = self.config
        return self.call(
            "object",
            "execute_kw",
            c.db,
            self.uid,
            c.api_key.get_secret_value(),
            model,
            method,
            args,
            kwargs or {},
            model=model,
        )

    def search_read(
        self,
        model: str,
        domain: list,
        fields: list[str],
        *,
        limit: int | None = None,
        offset: int = 0,
        order: str | None = None,
        context: dict | None = None,
    ) -> list[dict[str, Any]]:
        """``search_read`` with keyword arguments; returns the records (``false`` kept as ``False``)."""
        kwargs: dict[str, Any] = {"fields": fields, "offset": offset}
        if limit is not None:
            kwargs["limit"] = limit
        if order:
            kwargs["order"] = order
        if context:
            kwargs["context"] = context
        result = self.execute_kw(model, "search_read", [domain], kwargs)
        if not isinstance(result, list):
            raise SourceDataError(
                f"POST {self.endpoint}: {model}.search_read returned {type(result).__name__}, not a list"
            )
        return result
