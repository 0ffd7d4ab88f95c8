"""API: the 13-week cash forecast (JSON and CSV) and its backtest, for finance, auditors and admins
(`reporting.forecast` says how each figure is made). Amounts are exact decimal strings, per currency:
nothing is converted."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BeforeValidator, Field, WithJsonSchema

from handoff.reporting.forecast import Forecast, Source
from handoff.reporting.service import forecast as forecasts
from handoff.users.service import Role, User
from handoff.web.auth import api_user
from handoff.web.deps import Ctx
from handoff.web.errors import ERROR_RESPONSES, ApiError
from handoff.web.schemas import Out, plain

router = APIRouter(prefix="/api/v1", responses=ERROR_RESPONSES, tags=["metrics"])
READERS = (Role.FINANCE, Role.AUDITOR, Role.ADMIN)
# The days the forecast computes from (`service.forecast.EARLIEST`..`LATEST`: a year's history behind
# and 13 weeks ahead fit in the calendar), stated in the document as the year's pattern; the service
# refuses a day outside them naming the parameter.
YEARS = r"^(19[0-9]{2}|[2-8][0-9]{3}|9000)-[0-9]{2}-[0-9]{2}$"


def _iso_day(value: Any) -> Any:
    """A day only as `YYYY-MM-DD` text, as documented (pydantic would also read `0` as a Unix time)."""
    if not isinstance(value, str | date) or (isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)):
        raise ValueError("a date as YYYY-MM-DD")
    return value


Day = Annotated[date, BeforeValidator(_iso_day), WithJsonSchema({"type": "string", "format": "date", "pattern": YEARS})]
AsOf = Annotated[
    Day | None,
    Query(
        description=f"the forecast's first day (default today; {forecasts.EARLIEST} to {forecasts.LATEST}); "
        "weeks start on Monday"
    ),
]
ROUNDING = (
    "each expected receipt is its amount x weight (1, the milestone likelihood or the stage probability) "
    "rounded to cents half up, once; weeks and totals are sums of those cents"
)


class ForecastWeek(Out):
    start: date = Field(description="the week's Monday")
    receivables: str
    scheduled_billing: str
    milestones: str
    pipeline: str
    total: str


class CurrencyForecast(Out):
    currency: str
    overdue: str = Field(description="open receivables past due later than every days late of their customer's")
    disputed: str = Field(description="open receivables with an open dispute: not expected")
    doubtful: str = Field(description="open receivables past due by more than doubtful_after_days: not expected")
    weeks: list[ForecastWeek]
    beyond: str = Field(description="expected after the 13th week")
    total: str = Field(description="the 13 weeks' sum (without overdue and beyond)")


class ExpectedReceipt(Out):
    source: str
    reference: str
    customer_id: str
    currency: str
    expected_on: date
    amount: str
    weight: str
    overdue: bool
    line: str | None = Field(description="overdue, disputed or doubtful: on that line, in no week; null: in a week")


class ForecastOut(Out):
    as_of: date
    first_week: date
    sources: list[str]
    rounding: str
    milestone_likelihood: str
    portfolio_days_late: int | None = Field(description="median days late over paid invoices; null: none paid yet")
    customer_days_late: dict[str, int] = Field(description="customers with 3 or more paid invoices: their own median")
    currencies: list[CurrencyForecast]
    receipts: list[ExpectedReceipt] | None = Field(None, description="each expected receipt (only with `detail=true`)")


class HorizonOut(Out):
    horizon: int = Field(description="weeks ahead: 1 is the cut-off's own week")
    cutoffs: int
    forecast: str
    actual: str
    mae: str = Field(description="mean absolute error per cut-off")
    wape: str | None = Field(description="sum |forecast - actual| / sum actual; null when nothing was received")


class BacktestOut(Out):
    cutoffs: list[date]
    by_currency: dict[str, list[HorizonOut]]


def forecast_json(f: Forecast, detail: bool = False) -> dict[str, Any]:
    """The forecast as the API gives it: `receipts` only with `detail` (left out, not null, without)."""
    currencies = [
        {
            "currency": c.currency,
            "overdue": c.overdue,
            "disputed": c.disputed,
            "doubtful": c.doubtful,
            "weeks": [{"start": w.start, **{s.value: w.amounts[s] for s in Source}, "total": w.total} for w in c.weeks],
            "beyond": c.beyond,
            "total": c.total,
        }
        for c in f.currencies
    ]
    out: dict[str, Any] = {
        "as_of": f.as_of,
        "first_week": f.first_week,
        "sources": [s.value for s in Source],
        "rounding": ROUNDING,
        "milestone_likelihood": f.milestone_likelihood,
        "portfolio_days_late": f.portfolio_days_late,
        "customer_days_late": f.customer_days_late,
        "currencies": currencies,
    }
    if detail:
        out["receipts"] = [
            {
                "source": e.source.value,
                "reference": e.reference,
                "customer_id": e.customer_id,
                "currency": e.currency,
                "expected_on": e.expected_on,
                "amount": e.amount,
                "weight": e.weight,
                "overdue": e.overdue,
                "line": None if e.line is None else e.line.value,
            }
            for e in f.receipts
        ]
    return plain(out)  # type: ignore[no-any-return]


def _forecast(ctx: Ctx, as_of: date | None) -> Forecast:
    try:
        return forecasts.cash_forecast(ctx, as_of)
    except forecasts.ForecastError as exc:
        raise ApiError(422, "invalid_request", str(exc), exc.field) from exc


# exclude_unset: `receipts` only when asked for; `portfolio_days_late` is always there (null: none paid)
@router.get("/forecast", response_model=ForecastOut, response_model_exclude_unset=True)
def get_forecast(
    ctx: Ctx,
    as_of: AsOf = None,
    detail: Annotated[bool, Query(description="also list each expected receipt")] = False,
    user: User = api_user(*READERS),
) -> Any:
    """The 13-week cash forecast per currency: by week (Monday-based, from the week of `as_of`) and
    source (open receivables by each customer's days to pay, scheduled contract billing, milestones
    weighted by acceptance likelihood, the CRM pipeline weighted by stage probability), with what is
    overdue and what falls after the 13 weeks."""
    return forecast_json(_forecast(ctx, as_of), detail)


@router.get(
    "/forecast.csv", response_class=Response, responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}
)
def get_forecast_csv(ctx: Ctx, as_of: AsOf = None, user: User = api_user(*READERS)) -> Response:
    """The forecast as CSV: currency, bucket (overdue, week 1..13, beyond), week start, one column per source, total."""
    f = _forecast(ctx, as_of)
    name = f"cash-forecast-{f.as_of.isoformat()}.csv"
    return Response(
        forecasts.forecast_csv(f),
        media_type="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/forecast/backtest", response_model=BacktestOut)
def get_backtest(
    ctx: Ctx,
    cutoff: Annotated[
        list[Day] | None,
        Query(
            max_length=forecasts.MAX_CUTOFFS,
            description=f"past cut-off days, at most {forecasts.MAX_CUTOFFS} (default: the last 26 Mondays)",
        ),
    ] = None,
    user: User = api_user(*READERS),
) -> Any:
    """How wrong the forecast was: for each past cut-off, forecast with what was known then and compare
    each week with the cash received in it; MAE and WAPE per currency and weeks ahead."""
    try:
        b = forecasts.forecast_backtest(ctx, cutoff)
    except forecasts.ForecastError as exc:
        raise ApiError(422, "invalid_request", str(exc), exc.field) from exc
    return plain(
        {
            "cutoffs": list(b.cutoffs),
            "by_currency": {c: [vars_of(r) for r in rows] for c, rows in b.by_currency.items()},
        }
    )


def vars_of(row: Any) -> dict[str, Any]:
    """A slotted dataclass's fields as a dict (no deep copy, unlike `asdict`)."""
    return {name: getattr(row, name) for name in row.__slots__}
