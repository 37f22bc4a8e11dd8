"""The debtor portal app (FastAPI): signed-link pages, forms that spool events, pay now, the payment webhook.

Routes (``{token}`` is a :mod:`portal.tokens` link token; every page of one link shows only the
customer it names):

- ``GET /p/{token}``: statement of account (open invoices, amounts and due dates in the customer's
  locale, overdue marked), the "pay now" form and links to the other pages;
- ``GET /p/{token}/invoice/{invoice_id}`` (HTML print view) and ``.../{invoice_id}.pdf``: invoice copy;
- ``GET|POST /p/{token}/promise``, ``/dispute`` (one attachment), ``/plan``, ``/preferences``: the
  forms; a valid POST appends an event to the webhook spool (:mod:`portal.events`) and confirms;
- ``POST /p/{token}/pay``: creates a checkout session with the payment provider and redirects (303)
  to its page; the provider sends the payer back to ``/checkout/done`` or ``/checkout/cancelled``
  (no link token in those URLs: the provider never sees the portal credential);
- ``POST /webhooks/stripe``: the provider's signed payment webhook (:func:`portal.payments.verify_signature`):
  forged, altered, replayed-too-late -> 400; a duplicate event id -> 200 without a second event; a
  paid checkout -> a ``payment_succeeded`` event naming the invoices;
- ``GET /static/portal.css``, ``GET /healthz``.

An expired, forged, altered or unknown-customer link -> 403 with a page that shows no data (the
same page whatever was wrong). CSRF on every form (:mod:`portal.security`), rate limits per link and
per IP (429), a body cap (413), security headers on every answer. Spool write failure -> 503.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from hashlib import sha256
from pathlib import Path
from typing import Any

from babel.numbers import NumberFormatError, parse_decimal
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from starlette.datastructures import UploadFile

from connectors.webhooks.spool import Spool
from ml.nba import plans
from portal import events, security, tokens, uploads
from portal.i18n import Formatter
from portal.payments import (
    LineItem,
    PaymentProviderError,
    SignatureError,
    StripeCheckout,
    paid_checkout,
    split_metadata,
    verify_signature,
)
from portal.pdf import invoice_pdf
from portal.statements import CONSENT_CHANNELS, SnapshotUnavailable, Statement, read_statement

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent


@dataclass(frozen=True)
class PortalLimits:
    """Limits of the portal.

    Attributes:
        max_body_bytes: Largest request body (an attachment plus the form around it).
        max_attachment_bytes: Largest attachment.
        link_requests_per_minute: Requests per link and minute.
        link_posts_per_minute: Form posts per link and minute.
        ip_requests_per_minute: Requests per client IP and minute (invalid links count here).
        webhook_tolerance_s: Largest age of a payment webhook's signature.
        max_note_chars: Longest dispute note.
    """

    max_body_bytes: int = uploads.MAX_ATTACHMENT_BYTES + 64 * 1024
    max_attachment_bytes: int = uploads.MAX_ATTACHMENT_BYTES
    link_requests_per_minute: int = 60
    link_posts_per_minute: int = 10
    ip_requests_per_minute: int = 120
    webhook_tolerance_s: int = 300
    max_note_chars: int = events.MAX_NOTE


class _SeenEvents:
    """Provider event ids already spooled, kept in a file so a restarted portal still dedupes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._ids = set(path.read_text(encoding="utf-8").split()) if path.exists() else set()

    def __contains__(self, event_id: str) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> None:
        with self._lock, self.path.open("a", encoding="utf-8") as fh:
            fh.write(event_id + "\n")
            fh.flush()
            os.fsync(fh.fileno())
            self._ids.add(event_id)


def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=True,
        undefined=StrictUndefined,
        auto_reload=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def create_app(
    *,
    snapshot_path: str | os.PathLike[str],
    spool_dir: str | os.PathLike[str],
    data_dir: str | os.PathLike[str],
    token_secret: str | bytes,
    payments: StripeCheckout | None = None,
    stripe_webhook_secret: str | None = None,
    public_base_url: str | None = None,
    limits: PortalLimits = PortalLimits(),
    clock: Callable[[], datetime] | None = None,
) -> FastAPI:
    """Build the portal.

    Args:
        snapshot_path: The published read-only warehouse copy statements are read from.
        spool_dir: The webhook spool debtor actions are appended to.
        data_dir: The data directory: attachments go to ``<data_dir>/portal/attachments`` (served by
            no route), seen provider events to ``<data_dir>/portal/stripe-events.txt``.
        token_secret: Secret of the link tokens (and of the CSRF tokens, domain-separated).
        payments: The payment provider's client ("pay now" answers 503 without it).
        stripe_webhook_secret: The webhook endpoint's signing secret (the webhook answers 503 without it).
        public_base_url: Where the portal is reached from outside (the provider's return URLs);
            default: the URL of the request.
        limits: Sizes and rates.
        clock: Current instant (UTC, aware), for tests.
    """
    key = tokens.key(token_secret)
    now = clock or (lambda: datetime.now(UTC))
    spool = Spool(spool_dir)
    data = Path(data_dir)
    attachments = data / "portal" / "attachments"
    seen = _SeenEvents(data / "portal" / "stripe-events.txt")
    limiter = security.RateLimiter()
    env = _environment()
    csp = security.content_security_policy(payments.checkout_origins if payments else ())

    app = FastAPI(title="Cobranza debtor portal", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    @app.middleware("http")
    async def headers(request: Request, call_next: Callable) -> Response:
        response = await call_next(request)
        for name, value in security.SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        response.headers.setdefault("Content-Security-Policy", csp)
        return response

    def root(request: Request) -> str:
        return str(request.scope.get("root_path") or "").rstrip("/")

    def page(request: Request, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        html = env.get_template(template).render(static=f"{root(request)}/static", **values)
        return HTMLResponse(html, status_code=status_code)

    def denied(request: Request, status: int = 403) -> HTMLResponse:
        return page(request, "denied.html.j2", status, status=status)

    def limited(wait: float) -> PlainTextResponse:
        return PlainTextResponse("too many requests", 429, headers={"Retry-After": str(int(wait) + 1)})

    def client_ip(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    @dataclass
    class Visit:
        token: str
        fingerprint: str
        statement: Statement
        fmt: Formatter
        base: str

    def open_link(request: Request, token: str, *, post: bool = False) -> Visit | Response:
        """The link's customer and statement, or the answer to give instead (403/429/503)."""
        if wait := limiter.hit(f"ip:{client_ip(request)}", limits.ip_requests_per_minute):
            return limited(wait)
        try:
            claim = tokens.verify(key, token, now=now())
        except tokens.InvalidToken as exc:
            logger.info("portal link refused (%s) from %s", exc.kind, client_ip(request))
            return denied(request)
        fp = tokens.fingerprint(token)
        if wait := limiter.hit(f"link:{fp}", limits.link_requests_per_minute):
            return limited(wait)
        if post and (wait := limiter.hit(f"post:{fp}", limits.link_posts_per_minute)):
            return limited(wait)
        try:
            statement = read_statement(snapshot_path, claim.customer_id)
        except SnapshotUnavailable as exc:
            logger.warning("portal: %s", exc)
            return PlainTextResponse("statement temporarily unavailable, try again later", 503)
        if statement is None:  # a valid link for a customer the snapshot does not know: no data either
            logger.warning("portal link names customer unknown to the snapshot (link %s)", fp)
            return denied(request)
        fmt = Formatter(statement.language, statement.country)
        return Visit(token, fp, statement, fmt, f"{root(request)}/p/{token}")

    def csrf_for(request: Request, visit: Visit) -> str:
        current = request.cookies.get(security.CSRF_COOKIE)
        try:
            if current:
                security.check_csrf(key, visit.fingerprint, current, current, now=now().timestamp())
                issued = int(current.split(".")[1])
                if now().timestamp() - issued < security.CSRF_MAX_AGE.total_seconds() / 2:
                    return current
        except security.CsrfError:
            pass
        return security.csrf_token(key, visit.fingerprint, now=now().timestamp())

    def with_cookie(request: Request, response: Response, visit: Visit, token_value: str) -> Response:
        response.set_cookie(
            security.CSRF_COOKIE,
            token_value,
            max_age=int(security.CSRF_MAX_AGE.total_seconds()),
            path=visit.base,
            secure=request.url.scheme == "https",
            httponly=True,
            samesite="strict",
        )
        return response

    def form_page(request: Request, visit: Visit, template: str, status: int = 200, **values: Any) -> Response:
        csrf = csrf_for(request, visit)
        response = page(
            request, template, status, lang=visit.fmt.language, t=visit.fmt.text, base=visit.base, csrf=csrf, **values
        )
        return with_cookie(request, response, visit, csrf)

    async def checked_form(request: Request, visit: Visit, **limits_kw: Any) -> tuple[Any, str] | Response:
        """The parsed form and the CSRF nonce, or 403 (CSRF) / 400 (unreadable form)."""
        try:
            form = await request.form(**limits_kw)
        except Exception as exc:  # noqa: BLE001 - python-multipart/starlette raise several types for bad bodies
            if isinstance(exc, security.BodyTooLarge):
                raise
            return PlainTextResponse(f"unreadable form: {type(exc).__name__}", 400)
        try:
            value = form.get(security.CSRF_FIELD)
            nonce = security.check_csrf(
                key,
                visit.fingerprint,
                value if isinstance(value, str) else None,
                request.cookies.get(security.CSRF_COOKIE),
                now=now().timestamp(),
            )
        except security.CsrfError as exc:
            logger.info("portal form refused: %s (link %s)", exc, visit.fingerprint)
            return PlainTextResponse(f"forbidden: {exc}", 403)
        return form, nonce

    def spooled(request: Request, visit: Visit, items: list[dict[str, Any]], heading: str, message: str) -> Response:
        try:
            spool.append(items)
        except OSError as exc:
            logger.error("portal: the spool cannot be written (%s)", exc)
            return PlainTextResponse("could not record your request, please try again in a few minutes", 503)
        return page(
            request,
            "done.html.j2",
            lang=visit.fmt.language,
            t=visit.fmt.text,
            base=visit.base,
            title=heading,
            heading=heading,
            message=message,
        )

    def today() -> date:
        return now().date()

    def invoice_rows(visit: Visit) -> list[dict[str, Any]]:
        fmt, rows = visit.fmt, []
        for inv in visit.statement.invoices:
            late = (today() - inv.due_date).days
            if inv.is_disputed:
                status, css = fmt.t("disputed"), "disputed"
            elif late > 0:
                status, css = fmt.t("overdue", days=late), "overdue"
            else:
                status, css = fmt.t("current"), "current"
            rows.append(
                {
                    "id": inv.invoice_id,
                    "number": inv.number,
                    "due": fmt.date(inv.due_date),
                    "open": fmt.money(inv.amount_open, inv.currency),
                    "status": status,
                    "css": css,
                    "payable": not inv.is_disputed,
                }
            )
        return rows

    # -- pages -------------------------------------------------------------------------------------

    @app.get("/healthz")
    async def healthz() -> PlainTextResponse:
        return PlainTextResponse("ok")

    @app.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(status_code=204, headers={"Cache-Control": "max-age=86400"})

    @app.get("/p/{token}")
    async def statement_page(request: Request, token: str) -> Response:
        visit = open_link(request, token)
        if not isinstance(visit, Visit):
            return visit
        st, fmt = visit.statement, visit.fmt
        return form_page(
            request,
            visit,
            "statement.html.j2",
            title=fmt.t("title"),
            hello=fmt.t("hello", name=st.customer_name),
            balance=fmt.money(st.balance(), st.currency),
            invoices=invoice_rows(visit),
        )

    def invoice_or_none(visit: Visit, invoice_id: str) -> Any:
        return visit.statement.invoice(invoice_id)

    @app.get("/p/{token}/invoice/{invoice_id}.pdf")
    async def invoice_pdf_copy(request: Request, token: str, invoice_id: str) -> Response:
        visit = open_link(request, token)
        if not isinstance(visit, Visit):
            return visit
        inv = invoice_or_none(visit, invoice_id)
        if inv is None:
            return PlainTextResponse("not found", 404)
        fmt = visit.fmt
        rows = [
            (fmt.t("issued"), fmt.date(inv.issue_date)),
            (fmt.t("due"), fmt.date(inv.due_date)),
            (fmt.t("total"), fmt.money(inv.amount_total, inv.currency)),
            (fmt.t("open"), fmt.money(inv.amount_open, inv.currency)),
        ]
        body = invoice_pdf(f"{fmt.t('print')} {inv.number}", visit.statement.customer_name, rows)
        safe = uploads.safe_name(inv.number, "pdf")
        disposition = {"Content-Disposition": f'inline; filename="{safe}"'}
        return Response(body, media_type="application/pdf", headers=disposition)

    @app.get("/p/{token}/invoice/{invoice_id}")
    async def invoice_copy(request: Request, token: str, invoice_id: str) -> Response:
        visit = open_link(request, token)
        if not isinstance(visit, Visit):
            return visit
        inv = invoice_or_none(visit, invoice_id)
        if inv is None:
            return PlainTextResponse("not found", 404)
        fmt = visit.fmt
        row = next(r for r in invoice_rows(visit) if r["id"] == inv.invoice_id)
        return page(
            request,
            "invoice.html.j2",
            lang=fmt.language,
            t=fmt.text,
            base=visit.base,
            title=f"{fmt.t('print')} {inv.number}",
            invoice_id=inv.invoice_id,
            number=inv.number,
            customer=visit.statement.customer_name,
            issued=fmt.date(inv.issue_date),
            due=fmt.date(inv.due_date),
            total=fmt.money(inv.amount_total, inv.currency),
            open=fmt.money(inv.amount_open, inv.currency),
            status=row["status"],
        )

    # -- promise -----------------------------------------------------------------------------------

    def promise_form(request: Request, visit: Visit, status: int = 200, error: str = "", amount: str = "") -> Response:
        fmt, st = visit.fmt, visit.statement
        last = today() + timedelta(days=plans.PROMISE_MAX_DAYS)
        return form_page(
            request,
            visit,
            "promise.html.j2",
            status,
            title=fmt.t("promise"),
            error=error,
            min_date=today().isoformat(),
            max_date=last.isoformat(),
            hint=fmt.t("promise_hint", last=fmt.date(last)),
            currency=st.currency,
            amount=amount or str(st.balance()),
        )

    @app.get("/p/{token}/promise")
    async def promise_get(request: Request, token: str) -> Response:
        visit = open_link(request, token)
        return promise_form(request, visit) if isinstance(visit, Visit) else visit

    def parse_amount(text: str, locale: str, currency: str) -> Decimal:
        """A typed amount: plain (``1250000.50``) or as the customer's locale writes it (``1.250.000,50``)."""
        text = (text or "").strip()
        if not text or len(text) > 40:
            raise plans.PolicyError("the amount is missing")
        try:
            value = Decimal(text)
        except InvalidOperation:
            try:
                value = Decimal(str(parse_decimal(text, locale=locale)))
            except (NumberFormatError, InvalidOperation, ValueError) as exc:
                raise plans.PolicyError(f"{text[:20]!r} is not an amount") from exc
        if not value.is_finite():
            raise plans.PolicyError(f"{text[:20]!r} is not an amount")
        if value != value.quantize(plans.quantum(currency)):
            raise plans.PolicyError(f"{text[:20]!r} has more decimals than {currency} allows")
        return value

    @app.post("/p/{token}/promise")
    async def promise_post(request: Request, token: str) -> Response:
        visit = open_link(request, token, post=True)
        if not isinstance(visit, Visit):
            return visit
        got = await checked_form(request, visit, max_files=0, max_fields=10)
        if isinstance(got, Response):
            return got
        form, nonce = got
        fmt, st = visit.fmt, visit.statement
        raw_amount = str(form.get("amount") or "")
        try:
            try:
                promised = date.fromisoformat(str(form.get("promised_date") or "")[:10])
            except ValueError as exc:
                raise plans.PolicyError("the date is missing or not a date") from exc
            amount = parse_amount(raw_amount, fmt.locale, st.currency)
            plans.check_promise(promised, amount, st.balance(), today())
        except plans.PolicyError as exc:
            return promise_form(request, visit, 400, fmt.t("error", reason=str(exc)), raw_amount[:40])
        event = events.promise(st.customer_id, nonce, promised, amount, st.currency, now())
        message = fmt.t("done_promise", amount=fmt.money(amount, st.currency), date=fmt.date(promised))
        return spooled(request, visit, [event], fmt.t("promise"), message)

    # -- dispute -----------------------------------------------------------------------------------

    def dispute_form(request: Request, visit: Visit, status: int = 200, error: str = "") -> Response:
        fmt = visit.fmt
        return form_page(
            request,
            visit,
            "dispute.html.j2",
            status,
            title=fmt.t("dispute"),
            error=error,
            invoices=invoice_rows(visit),
            max_note=limits.max_note_chars,
            file_label=fmt.t("dispute_file", mb=limits.max_attachment_bytes // (1024 * 1024)),
        )

    @app.get("/p/{token}/dispute")
    async def dispute_get(request: Request, token: str) -> Response:
        visit = open_link(request, token)
        return dispute_form(request, visit) if isinstance(visit, Visit) else visit

    @app.post("/p/{token}/dispute")
    async def dispute_post(request: Request, token: str) -> Response:
        visit = open_link(request, token, post=True)
        if not isinstance(visit, Visit):
            return visit
        got = await checked_form(
            request, visit, max_files=1, max_fields=200, max_part_size=limits.max_note_chars * 4 + 1024
        )
        if isinstance(got, Response):
            return got
        form, nonce = got
        fmt, st = visit.fmt, visit.statement
        chosen = [str(v) for v in form.getlist("invoice")]
        mine = {i.invoice_id for i in st.invoices}
        note = str(form.get("note") or "").strip()
        if not chosen or any(c not in mine for c in chosen):
            return dispute_form(request, visit, 400, fmt.t("error", reason="choose the invoices you dispute"))
        if not note or len(note) > limits.max_note_chars:
            return dispute_form(request, visit, 400, fmt.t("error", reason="the note is empty or too long"))
        record = None
        upload = form.get("attachment")
        if isinstance(upload, UploadFile) and (upload.filename or upload.size):
            content = await upload.read(limits.max_attachment_bytes + 1)
            if len(content) > limits.max_attachment_bytes:
                reason = f"the attachment is over {limits.max_attachment_bytes // (1024 * 1024)} MB"
                return dispute_form(request, visit, 413, fmt.t("error", reason=reason))
            if content:
                try:
                    stored = uploads.store(attachments, st.customer_id, upload.filename, content)
                except uploads.UploadRejected as exc:
                    return dispute_form(request, visit, 415, fmt.t("error", reason=str(exc)))
                record = events.attachment_record(stored, str(data))
        numbers = ", ".join(i.number for i in st.invoices if i.invoice_id in set(chosen))
        event = events.dispute(st.customer_id, nonce, chosen, note, record, now())
        return spooled(request, visit, [event], fmt.t("dispute"), fmt.t("done_dispute", invoices=numbers))

    # -- plan --------------------------------------------------------------------------------------

    def plan_page(request: Request, visit: Visit, status: int = 200, error: str = "") -> Response:
        fmt, st = visit.fmt, visit.statement
        options = plans.offers(st.balance(), st.currency, st.segment, st.risk, today())
        shown = [
            {
                "count": o.count,
                "title": fmt.t("plan_option", n=o.count),
                "rows": [
                    {"date": fmt.date(i.due_date), "amount": fmt.money(i.amount, o.currency)} for i in o.instalments
                ],
            }
            for o in options
        ]
        return form_page(
            request,
            visit,
            "plan.html.j2",
            status,
            title=fmt.t("plan"),
            error=error,
            offers=shown,
            intro=fmt.t("plan_intro", total=fmt.money(st.balance(), st.currency)),
        )

    @app.get("/p/{token}/plan")
    async def plan_get(request: Request, token: str) -> Response:
        visit = open_link(request, token)
        return plan_page(request, visit) if isinstance(visit, Visit) else visit

    @app.post("/p/{token}/plan")
    async def plan_post(request: Request, token: str) -> Response:
        visit = open_link(request, token, post=True)
        if not isinstance(visit, Visit):
            return visit
        got = await checked_form(request, visit, max_files=0, max_fields=10)
        if isinstance(got, Response):
            return got
        form, nonce = got
        fmt, st = visit.fmt, visit.statement
        try:
            count = int(str(form.get("instalments") or "0")[:4])
            plan = plans.accept(count, st.balance(), st.currency, st.segment, st.risk, today())
        except (ValueError, plans.PolicyError) as exc:
            return plan_page(request, visit, 400, fmt.t("error", reason=str(exc)))
        first = plan.instalments[0]
        message = fmt.t(
            "done_plan", n=plan.count, amount=fmt.money(first.amount, plan.currency), date=fmt.date(first.due_date)
        )
        event = events.plan_accepted(st.customer_id, nonce, plan, now())
        return spooled(request, visit, [event], fmt.t("plan"), message)

    # -- preferences -------------------------------------------------------------------------------

    def prefs_page(request: Request, visit: Visit, status: int = 200) -> Response:
        fmt = visit.fmt
        channels = [{"value": c, "label": fmt.t(f"channel_{c}")} for c in CONSENT_CHANNELS]
        return form_page(request, visit, "preferences.html.j2", status, title=fmt.t("prefs"), channels=channels)

    @app.get("/p/{token}/preferences")
    async def prefs_get(request: Request, token: str) -> Response:
        visit = open_link(request, token)
        return prefs_page(request, visit) if isinstance(visit, Visit) else visit

    @app.post("/p/{token}/preferences")
    async def prefs_post(request: Request, token: str) -> Response:
        visit = open_link(request, token, post=True)
        if not isinstance(visit, Visit):
            return visit
        got = await checked_form(request, visit, max_files=0, max_fields=10)
        if isinstance(got, Response):
            return got
        form, nonce = got
        fmt, st = visit.fmt, visit.statement
        channels = [c for c in CONSENT_CHANNELS if c in {str(v) for v in form.getlist("opt_out")}]
        if not channels:
            return prefs_page(request, visit, 400)
        items = events.opt_outs(st.customer_id, nonce, [c.contact_id for c in st.contacts], channels, now())
        names = ", ".join(fmt.t(f"channel_{c}") for c in channels)
        return spooled(request, visit, items, fmt.t("prefs"), fmt.t("done_prefs", channels=names))

    # -- pay now -----------------------------------------------------------------------------------

    def public(request: Request) -> str:
        if public_base_url:
            return public_base_url.rstrip("/")
        return str(request.base_url).rstrip("/")  # Starlette's base_url already carries the root path

    @app.post("/p/{token}/pay")
    async def pay(request: Request, token: str) -> Response:
        visit = open_link(request, token, post=True)
        if not isinstance(visit, Visit):
            return visit
        got = await checked_form(request, visit, max_files=0, max_fields=500)
        if isinstance(got, Response):
            return got
        form, nonce = got
        if payments is None:
            return PlainTextResponse("online payment is not configured", 503)
        st, fmt = visit.statement, visit.fmt
        chosen = {str(v) for v in form.getlist("invoice")}
        picked = [i for i in st.invoices if i.invoice_id in chosen and not i.is_disputed]
        if not picked or len(picked) != len(chosen) or len({i.currency for i in picked}) != 1:
            return PlainTextResponse("choose open, undisputed invoices in one currency", 400)
        items = [LineItem(f"{fmt.t('invoice')} {i.number}", i.amount_open, i.currency) for i in picked]
        ids = [i.invoice_id for i in picked]
        idem = sha256(f"{st.customer_id}|{','.join(sorted(ids))}|{nonce}".encode()).hexdigest()
        base = public(request)
        try:
            session = payments.create_session(
                items,
                success_url=f"{base}/checkout/done?lang={fmt.language}&session_id={{CHECKOUT_SESSION_ID}}",
                cancel_url=f"{base}/checkout/cancelled?lang={fmt.language}",
                idempotency_key=idem,
                metadata={
                    "customer_id": st.customer_id,
                    "source": "cobranza-portal",
                    **split_metadata("invoice_ids", ids),
                },
                client_reference_id=st.customer_id,
                locale=fmt.language,
            )
        except PaymentProviderError as exc:
            logger.error("portal: %s", exc)
            return PlainTextResponse("the payment provider is not available, try again later", 502)
        return RedirectResponse(session.url, status_code=303)

    def return_page(request: Request, key_: str) -> Response:
        lang = request.query_params.get("lang") or "es"
        fmt = Formatter(lang if lang in ("es", "en", "pt") else "es", None)
        return page(
            request,
            "done.html.j2",
            lang=fmt.language,
            t=fmt.text,
            base="",
            title=fmt.t("pay_now"),
            heading=fmt.t("pay_now"),
            message=fmt.t(key_),
        )

    @app.get("/checkout/done")
    async def checkout_done(request: Request) -> Response:
        return return_page(request, "done_paid")

    @app.get("/checkout/cancelled")
    async def checkout_cancelled(request: Request) -> Response:
        return return_page(request, "cancelled")

    # -- the provider's webhook --------------------------------------------------------------------

    @app.post("/webhooks/stripe")
    async def stripe_webhook(request: Request) -> Response:
        if not stripe_webhook_secret:
            return JSONResponse({"error": "webhook secret not configured"}, 503)
        body = await request.body()
        try:
            event = verify_signature(
                stripe_webhook_secret,
                body,
                request.headers.get("stripe-signature"),
                tolerance_s=limits.webhook_tolerance_s,
                now=now().timestamp(),
            )
        except SignatureError as exc:
            logger.warning("stripe webhook refused: %s", exc)
            return JSONResponse({"error": str(exc)}, 400)
        if event["id"] in seen:
            return JSONResponse({"received": True, "duplicate": True})
        try:
            paid = paid_checkout(event)
        except ValueError as exc:
            spool.quarantine("stripe", body, str(exc))
            return JSONResponse({"error": str(exc)}, 400)
        if paid is None:
            return JSONResponse({"received": True, "ignored": event["type"]})
        try:
            spool.append([events.payment(paid)])
        except OSError as exc:
            logger.error("portal: the spool cannot be written (%s)", exc)
            return JSONResponse({"error": "spool unavailable"}, 503)
        seen.add(event["id"])
        return JSONResponse({"received": True})

    app.state.limits = limits
    app.state.spool = spool
    return app


def attach_body_limit(app: FastAPI, limit: int | None = None) -> Any:
    """The app wrapped in the body cap (:class:`portal.security.BodyLimit`); serve this, not ``app``."""
    return security.BodyLimit(app, limit or app.state.limits.max_body_bytes)
