"""The usage pages: the billable metrics for finance (what each measures, its filters and groups, and
the usage counted so far this period across subscriptions). The contract page's "Usage this
period" section (per usage line, metric and group: quantity and events so far, the amount at its
price) is the template `usage_section.html`, which `contract.html` includes with what
`usage.service.queries.current_usage` gives `contracts.ui`. Plain HTML, no script; every user text
goes through Jinja's autoescape."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from handoff.users.service import User
from handoff.web.auth import context, ui_user
from handoff.web.pages import FINANCE, render

router = APIRouter(include_in_schema=False)


@router.get("/usage/metrics")
def metrics_page(request: Request, user: User = ui_user(*FINANCE)) -> Response:
    """Finance's view of the billable metrics and the usage counted so far this period per metric."""
    from handoff.usage.domain.metrics import metric_to_json
    from handoff.usage.service import metrics as metric_service
    from handoff.usage.service.queries import current_usage

    ctx = context(request)
    today = ctx.clock().date()
    found = [metric_to_json(m.metric) for m in metric_service.list_metrics(ctx)]
    so_far: dict[str, dict[str, int]] = {}
    for line in current_usage(ctx, on=today):  # the subscriptions with usage this month
        seen = so_far.setdefault(line.metric, {"subscriptions": 0, "events": 0})
        seen["subscriptions"] += 1
        seen["events"] += line.events
    return render(request, "usage_metrics.html", user, metrics=found, so_far=so_far, today=today)
