"""The project page's charts, drawn on the server as SVG with matplotlib, the way the dashboard's
are (`reporting.charts`: its palette and settings, the object-oriented `Figure` API only, no
JavaScript): plan vs actual hours per phase (bars) and cumulative hours by week against the plan
and the budget (lines).

Phase names come from users: matplotlib writes text into the SVG XML-escaped, and `$` is escaped
here so that a name is never read as mathtext."""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from handoff.projects.domain.health import PhaseHealth, WeekPoint
from handoff.reporting.charts import ACCENT, BAD, GRID, INK, MUTED, WARN

LABEL_LENGTH = 24


def label(text: str) -> str:
    """A user's text as a chart label: shown literally (no mathtext), clipped."""
    clipped = text if len(text) <= LABEL_LENGTH else text[: LABEL_LENGTH - 1] + "…"
    return clipped.replace("\\", "\\\\").replace("$", r"\$")


def _svg(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", transparent=True, bbox_inches="tight")
    return buf.getvalue()


def _figure(width: float = 6.4, height: float = 3.0) -> tuple[Figure, Axes]:
    fig = Figure(figsize=(width, height))
    ax = fig.add_subplot()
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="y", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    return fig, ax


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", color=MUTED, transform=ax.transAxes)
    ax.set_xticks([])
    ax.set_yticks([])


def plan_vs_actual(phases: Sequence[PhaseHealth]) -> bytes:
    """Per phase: budget, plan to date, actual and estimate at completion, in hours."""
    fig, ax = _figure()
    if not phases:
        _empty(ax, "no phases planned")
        return _svg(fig)
    series = (
        ("budget", [float(p.total.budget) for p in phases], GRID),
        ("plan to date", [float(p.total.planned_to_date) for p in phases], MUTED),
        ("actual", [float(p.total.actual) for p in phases], ACCENT),
        ("estimate at completion", [float(p.total.eac) for p in phases], WARN),
    )
    width = 0.8 / len(series)
    for i, (name, values, color) in enumerate(series):
        xs = [x + (i - 1.5) * width for x in range(len(phases))]
        drawn = ax.bar(xs, values, width=width, color=color, label=name)
        if name == "actual":
            ax.bar_label(drawn, labels=[f"{v:,.0f}" for v in values], padding=2, color=INK, fontsize=8)
    ax.set_xticks(range(len(phases)), [label(p.name or "outside the plan") for p in phases])
    ax.tick_params(axis="x", length=0)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("hours")
    ax.legend(frameon=False, fontsize=8, ncols=2, loc="upper left")
    top = max([float(p.total.budget) for p in phases] + [float(p.total.eac) for p in phases] + [1.0])
    ax.set_ylim(0, top * 1.35)
    return _svg(fig)


def burn_up(weeks: Sequence[WeekPoint], budget: float) -> bytes:
    """Cumulative hours worked and planned at the end of each week, with the budget as a line."""
    fig, ax = _figure()
    if not weeks:
        _empty(ax, "no hours yet")
        return _svg(fig)
    xs = list(range(len(weeks)))
    step = max(1, len(weeks) // 8)  # at most about eight week labels
    ax.set_xticks(xs[::step], [w.week.strftime("%d %b") for w in weeks][::step])
    ax.plot(xs, [float(w.planned) for w in weeks], color=MUTED, linestyle="--", label="planned")
    ax.plot(xs, [float(w.actual) for w in weeks], color=ACCENT, marker="o", markersize=3, label="worked")
    if budget:
        ax.axhline(budget, color=BAD, linewidth=1, label="budget")
    ax.set_ylim(0, max([budget, *(float(w.actual) for w in weeks), 1.0]) * 1.15)
    ax.set_ylabel("hours, cumulative")
    ax.legend(frameon=False, fontsize=8, loc="upper left")
    ax.set_xlabel("week starting")
    return _svg(fig)
