"""Odoo JSON-RPC emulator serving a simulator output folder (CONNECTORS.md §2.1, §5).

Serves ``POST /jsonrpc`` like Odoo 17:

- ``common.version()``, ``common.authenticate(db, login, key, {})`` (the uid, or ``False`` on bad
  credentials) and ``common.login``;
- ``object.execute_kw(db, uid, key, model, method, args, kwargs)`` for ``search_read``,
  ``search_count``, ``search`` and ``read``, with domain evaluation (prefix notation: ``&``, ``|``,
  ``!``, implicit AND; operators ``=``, ``!=``, ``in``, ``not in``, ``>``, ``>=``, ``<``, ``<=``),
  ``fields``, ``offset``, ``limit`` and ``order``;
- values as Odoo returns them: ``false`` for empty fields, many2one as ``[id, "display name"]``,
  dates ``YYYY-MM-DD``, datetimes ``YYYY-MM-DD HH:MM:SS`` (UTC, no zone), amounts as JSON numbers;
- errors with HTTP 200 and ``{"error": {"code": 200, "message": "Odoo Server Error", "data":
  {"name": "odoo.exceptions.AccessDenied", ...}}}``.

Data: ``erp/customers.csv`` -> ``res.partner`` (id = the digits of ``customer_id``, ``ref`` =
``customer_id``), ``erp/invoices.parquet`` -> ``account.move`` ``out_invoice`` (id = digits of
``invoice_id``), ``erp/credit_notes.csv`` -> ``out_refund`` (id = ``CREDIT_NOTE_ID_OFFSET`` + digits,
since Odoo numbers all moves in one sequence). A few records outside the connector's domains (the
company itself, a contact person, a draft invoice, a vendor bill) check that domains are applied.

Test hooks: ``touch`` changes a record and bumps its ``write_date``; ``html_pages`` makes the next N
answers an HTML error page (as a misconfigured proxy would send), ``html_pages_for[model]`` the next
N data calls on one model; ``calls`` counts requests.
"""

from __future__ import annotations

import json
import re
import threading
import traceback
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

CREDIT_NOTE_ID_OFFSET = 500_000_000
EXTRA_ID = 900_000_000
DATETIME = "%Y-%m-%d %H:%M:%S"

# model -> field -> comodel, for many2one fields.
MANY2ONE: dict[str, dict[str, str]] = {
    "res.partner": {
        "parent_id": "res.partner",
        "commercial_partner_id": "res.partner",
        "currency_id": "res.currency",
        "property_payment_term_id": "account.payment.term",
        "industry_id": "res.partner.industry",
        "country_id": "res.country",
    },
    "account.move": {
        "partner_id": "res.partner",
        "commercial_partner_id": "res.partner",
        "currency_id": "res.currency",
        "reversed_entry_id": "account.move",
    },
}
FLOAT_FIELDS = {"amount_total", "amount_residual", "amount_untaxed", "amount_tax", "credit_limit"}


class OdooFault(Exception):
    """An Odoo exception to return in the JSON-RPC ``error`` object."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name = name
        self.message = message


def _digits(key: str) -> int:
    m = re.search(r"(\d+)$", key)
    if not m:
        raise ValueError(f"cannot derive an Odoo id from {key!r}")
    return int(m.group(1))


def _read_rows(path: Path) -> list[dict[str, str | None]]:
    """Rows of a simulator file with every value as text (None for null)."""
    con = duckdb.connect()
    try:
        p = str(path).replace("'", "''")
        if path.suffix == ".parquet":
            rel = con.sql(f"select columns(*)::varchar from read_parquet('{p}')")
        elif path.suffix == ".csv":
            rel = con.sql(f"select * from read_csv('{p}', all_varchar = true, header = true)")
        else:
            raise ValueError(f"unsupported file {path}")
        cols = rel.columns
        return [dict(zip(cols, row, strict=True)) for row in rel.fetchall()]
    finally:
        con.close()


def _dt(text: str | None) -> str | None:
    """Simulator instant text -> Odoo datetime text (seconds, no zone)."""
    return text[:19] if text else None


class OdooEmulator:
    """In-memory Odoo database built from a simulator folder, served as JSON-RPC.

    Args:
        data_dir: Simulator output folder (with ``erp/``).
        db: Database name clients must use.
        login: Login of the integration user.
        api_key: That user's API key (accepted where the password goes).
    """

    def __init__(
        self, data_dir: Path, db: str = "cobranza", login: str = "bot@example.com", api_key: str = "k"
    ) -> None:
        self.db = db
        self.users = {login: (2, api_key)}
        self.models: dict[str, dict[int, dict[str, Any]]] = {}
        self.lock = threading.Lock()
        self.calls = 0
        self.html_pages = 0
        self.html_pages_for: dict[str, int] = {}
        self._load(Path(data_dir))
        self.app = self._build_app()

    # --- data --------------------------------------------------------------------------------

    def _named(self, model: str, name: str) -> int:
        """Id of the ``model`` record with this name, created when missing."""
        table = self.models.setdefault(model, {})
        for rid, rec in table.items():
            if rec["name"] == name:
                return rid
        rid = len(table) + 1
        table[rid] = {"id": rid, "name": name}
        return rid

    def _load(self, data_dir: Path) -> None:
        erp = data_dir / "erp"
        partners: dict[int, dict[str, Any]] = {}
        self.models["res.partner"] = partners
        for r in _read_rows(erp / "customers.csv"):
            pid = _digits(r["customer_id"])
            days = int(r["payment_terms_days"]) if r["payment_terms_days"] else None
            term = (
                None
                if days is None
                else self._named("account.payment.term", "Immediate Payment" if days == 0 else f"{days} Days")
            )
            partners[pid] = {
                "id": pid,
                "name": r["name"],
                "ref": r["customer_id"],
                "vat": r["tax_id"],
                "country_code": r["country"],
                "country_id": self._named("res.country", r["country"]) if r["country"] else None,
                "city": r["city"],
                "tz": r["timezone"],
                "currency_id": self._named("res.currency", r["currency"]) if r["currency"] else None,
                "property_payment_term_id": term,
                "credit_limit": Decimal(r["credit_limit"]) if r["credit_limit"] else None,
                "industry_id": self._named("res.partner.industry", r["segment"]) if r["segment"] else None,
                "is_company": True,
                "customer_rank": 1,
                "parent_id": None,
                "commercial_partner_id": pid,
                "active": True,
                "write_date": _dt(r["updated_at"]),
            }
        first = min(partners) if partners else None
        base = {k: None for k in next(iter(partners.values()), {})}
        extras = [
            {"name": "Cobranza Demo S.A. (own company)", "is_company": True, "customer_rank": 0},
            {"name": "Ana Contact (person at a customer)", "is_company": False, "customer_rank": 1, "parent_id": first},
        ]
        for i, extra in enumerate(extras, start=1):
            pid = EXTRA_ID + i
            partners[pid] = {**base, "id": pid, "active": True, "commercial_partner_id": extra.get("parent_id") or pid}
            partners[pid].update(extra)
            partners[pid]["write_date"] = "2024-01-01 00:00:00"

        moves: dict[int, dict[str, Any]] = {}
        self.models["account.move"] = moves
        for r in _read_rows(erp / "invoices.parquet"):
            mid, pid = _digits(r["invoice_id"]), _digits(r["customer_id"])
            open_ = Decimal(r["amount_open"])
            total = Decimal(r["amount_total"])
            moves[mid] = {
                "id": mid,
                "name": r["number"],
                "move_type": "out_invoice",
                "partner_id": pid,
                "commercial_partner_id": pid,
                "invoice_date": r["issue_date"],
                "invoice_date_due": r["due_date"],
                "currency_id": self._named("res.currency", r["currency"]),
                "amount_total": total,
                "amount_residual": open_,
                "state": "cancel" if r["status"] == "cancelled" else "posted",
                "payment_state": "not_paid" if open_ == total else "paid" if open_ == 0 else "partial",
                "payment_reference": r["payment_reference"],
                "reversed_entry_id": None,
                "write_date": _dt(r["updated_at"]),
            }
        for r in _read_rows(erp / "credit_notes.csv"):
            mid, pid = CREDIT_NOTE_ID_OFFSET + _digits(r["credit_note_id"]), _digits(r["customer_id"])
            moves[mid] = {
                "id": mid,
                "name": r["number"],
                "move_type": "out_refund",
                "partner_id": pid,
                "commercial_partner_id": pid,
                "invoice_date": r["issue_date"],
                "invoice_date_due": r["issue_date"],
                "currency_id": self._named("res.currency", r["currency"]),
                "amount_total": Decimal(r["amount_total"]),
                "amount_residual": Decimal("0"),
                "state": "cancel" if r["status"] == "cancelled" else "posted",
                "payment_state": "paid",
                "payment_reference": None,
                "reversed_entry_id": _digits(r["invoice_id"]) if r["invoice_id"] else None,
                "write_date": _dt(r["updated_at"]),
            }
        template = next(iter(moves.values()), None)
        if template:
            for i, (move_type, state) in enumerate([("out_invoice", "draft"), ("in_invoice", "posted")], start=1):
                mid = EXTRA_ID + i
                moves[mid] = {**template, "id": mid, "name": "/", "move_type": move_type, "state": state}

    def count(self, model: str, domain: list) -> int:
        """Records of ``model`` matching ``domain`` (for tests)."""
        pred = compile_domain(domain)
        with self.lock:
            return sum(1 for r in self.models[model].values() if pred(r))

    def touch(self, model: str, record_id: int, write_date: str | None = None, **values: Any) -> str:
        """Change a record as a user edit would and bump its ``write_date``.

        Args:
            model: Model name.
            record_id: Record id.
            write_date: New ``write_date`` (default: one second after the newest in the model, or now).
            **values: Field values to set (many2one as ids, amounts as Decimal).

        Returns:
            The new ``write_date``.
        """
        with self.lock:
            table = self.models[model]
            if write_date is None:
                newest = max(r["write_date"] for r in table.values() if r.get("write_date"))
                bumped = datetime.strptime(newest, DATETIME) + timedelta(seconds=1)
                write_date = max(bumped, datetime.now(UTC).replace(tzinfo=None, microsecond=0)).strftime(DATETIME)
            table[record_id].update(values)
            table[record_id]["write_date"] = write_date
        return write_date

    # --- RPC ---------------------------------------------------------------------------------

    def _check(self, db: str, uid: int, key: str) -> None:
        if db != self.db or not any(u == uid and k == key for u, k in self.users.values()):
            raise OdooFault("odoo.exceptions.AccessDenied", "Access Denied")

    def dispatch(self, service: str, method: str, args: list) -> Any:
        """Run one ``call`` of the JSON-RPC API."""
        if service == "common":
            if method == "version":
                return {
                    "server_version": "17.0",
                    "server_version_info": [17, 0, 0, "final", 0, ""],
                    "protocol_version": 1,
                }
            if method in ("authenticate", "login"):
                db, login, key = args[0], args[1], args[2]
                user = self.users.get(login)
                return user[0] if db == self.db and user and user[1] == key else False
        if service == "object" and method == "execute_kw":
            db, uid, key, model, meth = args[:5]
            m_args = args[5] if len(args) > 5 else []
            kwargs = args[6] if len(args) > 6 else {}
            self._check(db, uid, key)
            return self._execute(model, meth, list(m_args), dict(kwargs or {}))
        raise OdooFault("werkzeug.exceptions.NotFound", f"Service/method {service}.{method} not found")

    def _execute(self, model: str, method: str, args: list, kwargs: dict) -> Any:
        if model not in MANY2ONE and model not in self.models:
            raise OdooFault("builtins.KeyError", f"'{model}'")
        table = self.models.get(model, {})
        if method in ("search_read", "search", "search_count"):
            domain = args[0] if args else kwargs.get("domain", [])
            pred = compile_domain(domain)
            with self.lock:
                found = [dict(r) for r in table.values() if pred(r)]
            if method == "search_count":
                return len(found)
            found.sort(key=_order_key(kwargs.get("order") or "id asc", model))
            offset = int(kwargs.get("offset") or 0)
            limit = kwargs.get("limit")
            found = found[offset : offset + int(limit)] if limit else found[offset:]
            if method == "search":
                return [r["id"] for r in found]
            fields = kwargs.get("fields") or (args[1] if len(args) > 1 else None)
            return [self._render(model, r, fields) for r in found]
        if method == "read":
            ids = args[0] if args else kwargs.get("ids", [])
            fields = kwargs.get("fields") or (args[1] if len(args) > 1 else None)
            with self.lock:
                return [self._render(model, dict(table[i]), fields) for i in ids if i in table]
        raise OdooFault("builtins.AttributeError", f"The method '{model}.{method}' does not exist")

    def _render(self, model: str, rec: dict[str, Any], fields: list[str] | None) -> dict[str, Any]:
        names = list(fields) if fields else list(rec)
        out: dict[str, Any] = {"id": rec["id"]}
        m2o = MANY2ONE.get(model, {})
        for f in names:
            if f not in rec:
                raise OdooFault("builtins.ValueError", f"Invalid field '{f}' on model '{model}'")
            v = rec[f]
            if f in m2o:
                co = self.models.get(m2o[f], {}).get(v) if v is not None else None
                out[f] = [v, co.get("name") or ""] if co else False
            elif v is None:
                out[f] = False
            else:
                out[f] = v
        return out

    def _build_app(self) -> FastAPI:
        app = FastAPI(title="Odoo JSON-RPC emulator", openapi_url=None, docs_url=None, redoc_url=None)

        @app.get("/web/version")
        def web_version() -> dict[str, Any]:
            return {"version": "17.0", "version_info": [17, 0, 0, "final", 0, ""]}

        @app.post("/jsonrpc")
        async def jsonrpc(request: Request) -> Response:
            self.calls += 1
            if self.html_pages > 0:
                self.html_pages -= 1
                return HTMLResponse("<html><body><h1>502 Bad Gateway</h1>nginx</body></html>", status_code=200)
            try:
                body = json.loads(await request.body())
                params = body.get("params") or {}
                req_id = body.get("id")
            except (ValueError, AttributeError):
                return _json({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "Parse error"}}, 400)
            args = params.get("args") or []
            model = args[3] if params.get("method") == "execute_kw" and len(args) > 3 else None
            if self.html_pages_for.get(model, 0) > 0:
                self.html_pages_for[model] -= 1
                return HTMLResponse("<html><body><h1>502 Bad Gateway</h1>nginx</body></html>", status_code=200)
            try:
                result = self.dispatch(
                    params.get("service", ""), params.get("method", ""), list(params.get("args") or [])
                )
                return _json({"jsonrpc": "2.0", "id": req_id, "result": result})
            except Exception as exc:  # noqa: BLE001 - every failure becomes an Odoo-shaped error
                fault = exc if isinstance(exc, OdooFault) else OdooFault(f"builtins.{type(exc).__name__}", str(exc))
                return _json(
                    {
                        "jsonrpc": "2.0",
                        "id": req_id,
                        "error": {
                            "code": 200,
                            "message": "Odoo Server Error",
                            "data": {
                                "name": fault.name,
                                "debug": "Traceback (most recent call last):\n"
                                + "".join(traceback.format_exception_only(exc)),
                                "message": fault.message,
                                "arguments": [fault.message],
                                "context": {},
                            },
                        },
                    }
                )

        return app


def _json(payload: Any, status: int = 200) -> Response:
    def default(o: object) -> object:
        if isinstance(o, Decimal):
            return float(o)  # Odoo serialises float fields as JSON numbers
        raise TypeError(f"not JSON serialisable: {type(o).__name__}")

    return Response(json.dumps(payload, default=default), status_code=status, media_type="application/json")


def _order_key(order: str, model: str) -> Callable[[dict[str, Any]], tuple]:
    """Sort key for an Odoo ``order`` string such as ``"write_date asc, id asc"``."""
    specs: list[tuple[str, bool]] = []
    for part in order.split(","):
        bits = part.strip().split()
        if not bits:
            continue
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", bits[0]):
            raise OdooFault("builtins.ValueError", f'Invalid "order" specified ({order}) on {model}')
        specs.append((bits[0], len(bits) > 1 and bits[1].lower() == "desc"))

    class _Desc:
        def __init__(self, v: tuple) -> None:
            self.v = v

        def __lt__(self, other: _Desc) -> bool:
            return other.v < self.v

        def __eq__(self, other: object) -> bool:
            return isinstance(other, _Desc) and other.v == self.v

    def key(rec: dict[str, Any]) -> tuple:
        out = []
        for name, desc in specs:
            v = rec.get(name)
            item = (v is not None, v if v is not None else 0)
            out.append(_Desc(item) if desc else item)
        return tuple(out)

    return key


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a is not None and b is not None and a > b,
    ">=": lambda a, b: a is not None and b is not None and a >= b,
    "<": lambda a, b: a is not None and b is not None and a < b,
    "<=": lambda a, b: a is not None and b is not None and a <= b,
    "in": lambda a, b: a in b,
    "not in": lambda a, b: a not in b,
}


def _normalise(v: Any) -> Any:
    if v is False:
        return None
    if isinstance(v, float):
        return Decimal(str(v))
    if isinstance(v, list):
        return [_normalise(x) for x in v]
    return v


def compile_domain(domain: list) -> Callable[[dict[str, Any]], bool]:
    """Compile an Odoo domain (prefix notation, implicit AND) into a predicate on stored records.

    Args:
        domain: E.g. ``["|", ["write_date", ">", T], "&", ["write_date", "=", T], ["id", ">", 5]]``.

    Returns:
        A function ``record -> bool``.

    Raises:
        OdooFault: An unknown operator or a malformed domain (as Odoo's ValueError).
    """
    stack: list[Callable[[dict[str, Any]], bool]] = []
    for item in reversed(list(domain or [])):
        if item in ("&", "|"):
            if len(stack) < 2:
                raise OdooFault("builtins.ValueError", f"Invalid domain {domain!r}: '{item}' needs two operands")
            a, b = stack.pop(), stack.pop()
            stack.append(
                (lambda x, y: lambda r: x(r) and y(r))(a, b)
                if item == "&"
                else (lambda x, y: lambda r: x(r) or y(r))(a, b)
            )
        elif item == "!":
            if not stack:
                raise OdooFault("builtins.ValueError", f"Invalid domain {domain!r}: '!' needs an operand")
            a = stack.pop()
            stack.append((lambda x: lambda r: not x(r))(a))
        elif isinstance(item, list | tuple) and len(item) == 3:
            field, op, val = item
            if op not in _OPS:
                raise OdooFault("builtins.ValueError", f"Invalid leaf {list(item)!r}: unsupported operator {op!r}")
            fn, target = _OPS[op], _normalise(val)
            if op in ("in", "not in") and not isinstance(target, list):
                target = [target]

            def leaf(r: dict[str, Any], field: str = field, fn: Callable = fn, target: Any = target) -> bool:
                v = r.get(field)
                return fn(None if v is False else v, target)

            stack.append(leaf)
        else:
            raise OdooFault("builtins.ValueError", f"Invalid domain term {item!r}")
    return lambda r: all(p(r) for p in stack)
