"""The dashboard for finance, auditors and admins: the metrics and their charts, drawn as SVG on
the server (`reporting.charts`), so the page needs no JavaScript."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from handoff.reporting import charts
from handoff.reporting.forecast import Source
from handoff.reporting.service import forecast as forecasts
from handoff.reporting.service import metrics
from handoff.users.service import User
from handoff.web.auth import context, ui_user
from handoff.web.pages import FINANCE, STATE_LABELS, error_page, render

router = APIRouter(include_in_schema=False)


@router.get("/dashboard")
def dashboard(request: Request, user: User = ui_user(*FINANCE)) -> Response:
    # fresh for the page; its charts, requested right after, reuse this computation
    ctx = context(request)
    return render(
        request,
        "dashboard.html",
        user,
        m=metrics.recent(ctx, max_age=0),
        forecast=forecasts.recent_forecast(ctx, max_age=0),
    )


@router.get("/charts/{name}.svg")
def chart(request: Request, name: str, user: User = ui_user(*FINANCE)) -> Response:
    if name.startswith("forecast-"):
        return _forecast_chart(request, name.removeprefix("forecast-"))
    m = metrics.recent(context(request))
    if name == "states":
        states = {k: v for k, v in m.deals_by_state.items() if v or k != "pipeline"}
        colors = [{"blocked": charts.BAD, "paid": charts.GOOD}.get(s, charts.ACCENT) for s in states]
        svg = charts.bars([STATE_LABELS.get(s, s).replace(" · ", "\n") for s in states], list(states.values()), colors)
    elif name == "aging":
        svg = charts.bars(
            list(m.exception_aging),
            list(m.exception_aging.values()),
            [charts.WARN, charts.WARN, charts.BAD, charts.BAD],
        )
    elif name == "cycle":
        svg = charts.bars(
            [k.replace(" days", "d").replace(" day", "d") for k in m.cycle_time_buckets],
            list(m.cycle_time_buckets.values()),
            ylabel="invoiced deals",
        )
    elif name == "overdue":
        svg = charts.horizontal(
            list(m.overdue_by_currency), [float(v) for v in m.overdue_by_currency.values()], charts.BAD, "{:,.2f}"
        )
    elif name == "exception-rate":
        svg = charts.donut(m.exception_rate, "of won deals", charts.WARN)
    elif name == "automation":
        svg = charts.donut(m.automation_rate, "no human touch", charts.GOOD)
    else:
        return error_page(request, 404, f"There is no chart {name}.")
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=30"})


FORECAST_COLORS = {
    Source.RECEIVABLES: charts.ACCENT,
    Source.SCHEDULED_BILLING: charts.GOOD,
    Source.MILESTONES: charts.WARN,
    Source.PIPELINE: "#9aa5b1",
}


def _forecast_chart(request: Request, currency: str) -> Response:
    """The 13 weeks of one currency's cash forecast, stacked by source."""
    found = forecasts.recent_forecast(context(request)).currency(currency)
    if found is None:
        return error_page(request, 404, f"The forecast has no currency {currency}.")
    svg = charts.stacked(
        [f"{w.start:%d}\n{w.start:%b}" for w in found.weeks],
        [
            (source.value.replace("_", " "), [float(w.amounts[source]) for w in found.weeks], color)
            for source, color in FORECAST_COLORS.items()
        ],
        ylabel=currency,
        empty="no cash expected",
    )
    return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "private, max-age=30"})
