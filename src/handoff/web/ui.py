"""The browser UI, rendered on the server with Jinja2 (autoescaped; no JavaScript build).

Sales work their exception queue and fix billing fields inline; finance work the task board,
invoices and payments; everyone with access reads a deal's timeline from the audit trail; the
dashboard draws its charts as SVG on the server. Every form posts a CSRF secret; every page
checks the user's role on the server (see `auth.ui_user`)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from handoff.approvals import service as approvals
from handoff.audit import service as audit
from handoff.cash.service import queries as payment_queries
from handoff.cash.service.payments import apply_payment
from handoff.deals.formats import IntakeError
from handoff.deals.service import queries as deal_queries
from handoff.deals.service.orders import EDITABLE, OrderError, update_fields
from handoff.invoicing.service import queries as invoice_queries
from handoff.invoicing.service.issuing import InvoicingError, issue_draft
from handoff.reporting import charts
from handoff.reporting.service import metrics
from handoff.reporting.service.digest import AGE_BUCKETS
from handoff.users import service as users
from handoff.users.service import Role, User, UserError
from handoff.web.auth import ALL, LoginRequired, PageForbidden, context, csrf_token, may_see_deal, ui_user
from handoff.web.schemas import BillingFix

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
router = APIRouter(include_in_schema=False)
PAGE = 50
FINANCE = (Role.FINANCE, Role.AUDITOR, Role.ADMIN)
WRITERS = (Role.FINANCE, Role.ADMIN)
HOME = {Role.SALES: "/exceptions", Role.FINANCE: "/tasks", Role.AUDITOR: "/dashboard", Role.ADMIN: "/dashboard"}
STATE_LABELS = {"pipeline": "pipeline", "blocked": "blocked", "ready": "ready", "drafted": "ready · draft invoice",
                "sent": "invoiced", "paid": "paid"}  # fmt: skip


def _money(value: Any, currency: str = "") -> str:
    if value is None or value == "":
        return "—"
    try:
        text = f"{Decimal(str(value)):,.2f}"
    except InvalidOperation:
        return str(value)
    return f"{text} {currency}".strip()


templates.env.filters["money"] = _money
templates.env.filters["when"] = lambda v: v.strftime("%d %b %Y %H:%M") if hasattr(v, "strftime") else (v or "—")
templates.env.filters["day"] = lambda v: v.strftime("%d %b %Y") if hasattr(v, "strftime") else (v or "—")
templates.env.filters["pct"] = lambda v: f"{v:.0%}"
templates.env.filters["person"] = approvals.person  # an actor as people know them: `user:a@b` -> `a@b`
templates.env.globals["state_label"] = lambda s: STATE_LABELS.get(s, s)


def render(request: Request, name: str, user: User | None, http_status: int = 200, **values: Any) -> HTMLResponse:
    flash = request.session.pop("flash", None) if "session" in request.scope else None
    # what waits for a second person, on the navigation of everyone who sees approvals
    waiting = approvals.pending_count(context(request)) if user is not None and user.role in FINANCE else 0
    return templates.TemplateResponse(request, name, {
        "user": user, "csrf": csrf_token(request), "flash": flash, "path": request.url.path,
        "Role": Role, "approvals_waiting": waiting, **values}, status_code=http_status)  # fmt: skip


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    user = users.get_user(context(request), request.session.get("uid", 0)) if request.session.get("uid") else None
    titles = {403: "Not allowed", 404: "Not found", 405: "Not allowed"}
    return render(request, "error.html", user, http_status=status, title=titles.get(status, "Something went wrong"),
                  message=message)  # fmt: skip


def install(api: FastAPI) -> None:
    async def on_login_required(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return RedirectResponse(f"/login?{urlencode({'next': exc.next_url})}", status_code=303)

    async def on_forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageForbidden)
        return error_page(request, 403, exc.message)

    api.add_exception_handler(LoginRequired, on_login_required)
    api.add_exception_handler(PageForbidden, on_forbidden)


def flash_message(request: Request, kind: str, message: str) -> None:
    request.session["flash"] = {"kind": kind, "message": message}


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _safe_next(target: str | None) -> str | None:
    return target if target and target.startswith("/") and not target.startswith("//") else None


# --- session -------------------------------------------------------------------------------------

@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", None, next=_safe_next(next) or "")


@router.post("/login")
async def login(request: Request, email: Annotated[str, Form(max_length=320)] = "",
                password: Annotated[str, Form(max_length=200)] = "",
                csrf_token: Annotated[str, Form(max_length=100)] = "",
                next: Annotated[str, Form(max_length=500)] = "") -> Response:  # fmt: skip
    from handoff.web.auth import csrf_ok

    if not csrf_ok(request, csrf_token):
        return render(request, "login.html", None, http_status=403, next=_safe_next(next) or "", email=email,
                      error="The login form expired. Please try again.")  # fmt: skip
    user = users.authenticate(context(request), email, password)
    if user is None:
        return render(request, "login.html", None, http_status=401, next=_safe_next(next) or "", email=email,
                      error="E-mail or password is wrong.")  # fmt: skip
    request.session.clear()  # a fresh session (and CSRF secret) at each login
    request.session["uid"] = user.id
    return see_other(_safe_next(next) or HOME[user.role])


@router.post("/logout")
def logout(request: Request, user: User = ui_user(*ALL)) -> Response:
    request.session.clear()
    return see_other("/login")


@router.get("/")
def home(request: Request, user: User = ui_user(*ALL)) -> Response:
    return see_other(HOME[user.role])


# --- sales: exceptions and deals -------------------------------------------------------------------

AGE_FILTERS = {label: (lo, hi) for lo, hi, label in AGE_BUCKETS}


@router.get("/exceptions")
def exceptions_page(request: Request, owner: str = "", reason: str = "", age: str = "",
                    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
                    user: User = ui_user(*ALL)) -> Response:  # fmt: skip
    ctx = context(request)
    if user.role is Role.SALES:
        owner = user.email
    lo, hi = AGE_FILTERS.get(age, (None, None))
    found = deal_queries.list_exceptions(ctx, owner=owner or None, reason=reason or None, min_age_days=lo,
                                    max_age_days=hi if hi is None or hi < 10**6 else None,
                                    limit=PAGE, offset=(page - 1) * PAGE)  # fmt: skip
    everything = deal_queries.list_exceptions(ctx, owner=user.email if user.role is Role.SALES else None, limit=1)
    owners = sorted({r["owner"] for r in deal_queries.list_exceptions(ctx, limit=1000).items}) \
        if user.role is not Role.SALES else []  # fmt: skip
    return render(request, "exceptions.html", user, page=found, page_no=page, owner=owner, reason=reason, age=age,
                  ages=list(AGE_FILTERS), owners=owners, open_total=everything.total,
                  reasons=sorted(EDITABLE), can_fix=user.role in (Role.SALES, Role.FINANCE, Role.ADMIN))  # fmt: skip


@router.post("/deals/{deal_id}/fix")
async def fix_deal(request: Request, deal_id: str,
                   user: User = ui_user(Role.SALES, Role.FINANCE, Role.ADMIN)) -> Response:  # fmt: skip
    ctx = context(request)
    owner = deal_queries.order_owner(ctx, deal_id)
    if owner is None:
        return error_page(request, 404, f"There is no deal {deal_id}.")
    if not may_see_deal(user, owner):
        return error_page(request, 403, "Sales users can fix only their own deals.")
    form = await request.form()
    back = _safe_next(str(form.get("back", ""))) or f"/deals/{deal_id}"
    changes = {k: str(v).strip() for k, v in form.items() if k in EDITABLE and str(v).strip()}
    if not changes:
        flash_message(request, "warn", f"{deal_id}: nothing to save — fill in at least one field.")
        return see_other(back)
    try:
        BillingFix.model_validate(changes)
        update_fields(ctx, deal_id, changes, user.email)
    except (ValidationError, OrderError) as exc:
        flash_message(request, "error", f"{deal_id}: not saved — {exc}")
        return see_other(back)
    detail = deal_queries.order_detail(ctx, deal_id) or {}
    if detail.get("problems"):
        left = "; ".join(p["message"] for p in detail["problems"])
        flash_message(request, "warn", f"{deal_id} saved, still blocked: {left}")
    else:
        flash_message(request, "ok",
                      f"{deal_id} is ready to bill — it left the exception queue and finance has a task.")
    return see_other(back)


@router.get("/deals")
def deals_page(request: Request, state: str = "", owner: str = "", text: str = "",
               page: Annotated[int, Query(ge=1, le=10_000)] = 1, user: User = ui_user(*ALL)) -> Response:  # fmt: skip
    ctx = context(request)
    if user.role is Role.SALES:
        owner = user.email
    found = deal_queries.list_orders(ctx, state=state or None, owner=owner or None, text=text or None, limit=PAGE,
                                offset=(page - 1) * PAGE)  # fmt: skip
    return render(request, "deals.html", user, page=found, page_no=page, state=state, owner=owner, text=text,
                  states=list(STATE_LABELS))  # fmt: skip


@router.get("/deals/{deal_id}")
def deal_page(request: Request, deal_id: str, user: User = ui_user(*ALL)) -> Response:
    ctx = context(request)
    detail = deal_queries.order_detail(ctx, deal_id)
    if detail is None:
        return error_page(request, 404, f"There is no deal {deal_id}.")
    if not may_see_deal(user, detail["owner_email"]):
        return error_page(request, 403, "Sales users see only their own deals.")
    return render(request, "deal.html", user, deal=detail, timeline=audit.history(ctx, "order", deal_id)[::-1],
                  can_fix=user.role in (Role.SALES, Role.FINANCE, Role.ADMIN), editable=sorted(EDITABLE))  # fmt: skip


# --- finance: tasks, invoices, payments ------------------------------------------------------------

@router.get("/tasks")
def tasks_page(request: Request, user: User = ui_user(*FINANCE)) -> Response:
    ctx = context(request)
    open_tasks = invoice_queries.list_tasks(ctx, status="open", limit=200)
    done = invoice_queries.list_tasks(ctx, status="done", limit=10)
    columns: dict[str, list[dict[str, Any]]] = {"issue_invoice": [], "review_amendment": []}
    for t in open_tasks.items:
        columns.setdefault(t["kind"], []).append(t)
    return render(request, "tasks.html", user, columns=columns, open_total=open_tasks.total, done=done.items,
                  can_issue=user.role in WRITERS)  # fmt: skip


@router.get("/invoices")
def invoices_page(request: Request, status: str = "", payment_state: str = "", overdue: str = "",
                  customer: str = "", page: Annotated[int, Query(ge=1, le=10_000)] = 1,
                  user: User = ui_user(*FINANCE)) -> Response:  # fmt: skip
    found = invoice_queries.list_invoices(context(request), status=status or None, payment_state=payment_state or None,
                                  overdue=True if overdue == "1" else None, customer=customer or None,
                                  limit=PAGE, offset=(page - 1) * PAGE)  # fmt: skip
    return render(request, "invoices.html", user, page=found, page_no=page, status=status,
                  payment_state=payment_state, overdue=overdue, customer=customer)  # fmt: skip


@router.get("/invoices/{invoice_id}")
def invoice_page(request: Request, invoice_id: int, user: User = ui_user(*FINANCE)) -> Response:
    if not 1 <= invoice_id < 2**31:
        return error_page(request, 404, f"There is no invoice {invoice_id}.")
    ctx = context(request)
    detail = invoice_queries.invoice_detail(ctx, invoice_id)
    if detail is None:
        return error_page(request, 404, f"There is no invoice {invoice_id}.")
    credits = approvals.list_approvals(ctx, None, limit=50, subject=detail["number"]).items \
        if detail["kind"] == "invoice" and detail["number"] else []  # fmt: skip
    return render(request, "invoice.html", user, inv=detail, credits=credits, can_issue=user.role in WRITERS)


@router.post("/invoices/{invoice_id}/issue")
def issue_page(request: Request, invoice_id: int, user: User = ui_user(*WRITERS)) -> Response:
    try:
        issued = issue_draft(context(request), invoice_id, user.actor)
        flash_message(request, "ok", f"Invoice {issued.number} issued and sent to {issued.buyer.billing_email}.")
    except InvoicingError as exc:
        flash_message(request, "error", str(exc))
    return see_other(f"/invoices/{invoice_id}")


@router.get("/payments")
def payments_page(request: Request, page: Annotated[int, Query(ge=1, le=10_000)] = 1,
                  user: User = ui_user(*FINANCE)) -> Response:  # fmt: skip
    found = payment_queries.list_payments(context(request), limit=PAGE, offset=(page - 1) * PAGE)
    return render(request, "payments.html", user, page=found, page_no=page, can_apply=user.role in WRITERS)


@router.post("/payments")
async def apply_payment_page(request: Request, user: User = ui_user(*WRITERS)) -> Response:
    from datetime import date

    form = await request.form()
    number = str(form.get("invoice_number", "")).strip()
    try:
        amount = Decimal(str(form.get("amount", "")).strip())
        paid_on = date.fromisoformat(str(form.get("paid_on", "")).strip())
        if amount <= 0 or not number:
            raise ValueError
    except (InvalidOperation, ValueError):
        flash_message(request, "error", "Give an invoice number, a positive amount and a date (YYYY-MM-DD).")
        return see_other("/payments")
    try:
        report = apply_payment(context(request), number, amount, paid_on, str(form.get("reference", ""))[:200],
                               user.actor)  # fmt: skip
    except IntakeError:
        flash_message(request, "error", f"{number} is not an issued invoice.")
        return see_other("/payments")
    state = report.states.get(number, "unchanged (already recorded)")
    flash_message(request, "ok", f"Payment of {_money(amount)} applied to {number}: invoice now {state}.")
    return see_other("/payments")


# --- dashboard -------------------------------------------------------------------------------------

@router.get("/dashboard")
def dashboard(request: Request, user: User = ui_user(*FINANCE)) -> Response:
    # fresh for the page; its charts, requested right after, reuse this computation
    return render(request, "dashboard.html", user, m=metrics.recent(context(request), max_age=0))


@router.get("/charts/{name}.svg")
def chart(request: Request, name: str, user: User = ui_user(*FINANCE)) -> Response:
    m = metrics.recent(context(request))
    if name == "states":
        states = {k: v for k, v in m.deals_by_state.items() if v or k != "pipeline"}
        colors = [{"blocked": charts.BAD, "paid": charts.GOOD}.get(s, charts.ACCENT) for s in states]
        svg = charts.bars([STATE_LABELS.get(s, s).replace(" · ", "\n") for s in states], list(states.values()),
                          colors)  # fmt: skip
    elif name == "aging":
        svg = charts.bars(list(m.exception_aging), list(m.exception_aging.values()),
                          [charts.WARN, charts.WARN, charts.BAD, charts.BAD])  # fmt: skip
    elif name == "cycle":
        svg = charts.bars([k.replace(" days", "d").replace(" day", "d") for k in m.cycle_time_buckets],
                          list(m.cycle_time_buckets.values()), ylabel="invoiced deals")  # fmt: skip
    elif name == "overdue":
        svg = charts.horizontal(list(m.overdue_by_currency), [float(v) for v in m.overdue_by_currency.values()],
                                charts.BAD, "{:,.2f}")  # fmt: skip
    elif name == "exception-rate":
        svg = charts.donut(m.exception_rate, "of won deals", charts.WARN)
    elif name == "automation":
        svg = charts.donut(m.automation_rate, "no human touch", charts.GOOD)
    else:
        return error_page(request, 404, f"There is no chart {name}.")
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=30"})


# --- admin and account -----------------------------------------------------------------------------

@router.get("/admin/users")
def users_page(request: Request, user: User = ui_user(Role.ADMIN)) -> Response:
    return render(request, "users.html", user, people=users.list_users(context(request)), roles=list(Role))


@router.post("/admin/users")
async def add_user_page(request: Request, user: User = ui_user(Role.ADMIN)) -> Response:
    form = await request.form()
    try:
        added = users.add_user(context(request), str(form.get("email", "")), str(form.get("role", "")),
                               str(form.get("password", "")), user.actor)  # fmt: skip
        flash_message(request, "ok", f"{added.email} can now log in as {added.role.value}.")
    except UserError as exc:
        flash_message(request, "error", exc.message)
    return see_other("/admin/users")


@router.post("/admin/users/{user_id}/active")
async def user_active_page(request: Request, user_id: int, user: User = ui_user(Role.ADMIN)) -> Response:
    form = await request.form()
    active = form.get("active") == "1"
    if user_id == user.id and not active:
        flash_message(request, "error", "You cannot deactivate yourself.")
        return see_other("/admin/users")
    try:
        changed = users.set_active(context(request), user_id, active, user.actor)
        flash_message(request, "ok", f"{changed.email} is now {'active' if active else 'deactivated'}.")
    except UserError as exc:
        flash_message(request, "error", exc.message)
    return see_other("/admin/users")


@router.get("/account")
def account_page(request: Request, user: User = ui_user(*ALL)) -> Response:
    return render(request, "account.html", user, token=None)


@router.post("/account/tokens")
async def account_token(request: Request, user: User = ui_user(*ALL)) -> Response:
    form = await request.form()
    try:
        secret, _ = users.create_token(context(request), user, str(form.get("name", "")), user.actor)
    except UserError as exc:
        flash_message(request, "error", exc.message)
        return see_other("/account")
    return render(request, "account.html", user, token=secret)
