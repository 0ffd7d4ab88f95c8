"""Dashboard charts drawn on the server as SVG with matplotlib (no JavaScript, no build step).

Only the object-oriented API (`Figure`) is used, never pyplot's global state, so concurrent
requests do not share figures."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("svg")
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

INK, MUTED, GRID = "#1f2933", "#616e7c", "#e4e7eb"
ACCENT, WARN, BAD, GOOD = "#2f6fde", "#e0a526", "#d64545", "#2f9e6e"
matplotlib.rcParams.update(
    {
        "font.family": "DejaVu Sans",
        "font.size": 10,
        "svg.fonttype": "none",
        "axes.edgecolor": GRID,
        "axes.labelcolor": MUTED,
        "xtick.color": MUTED,
        "ytick.color": MUTED,
        "text.color": INK,
    }
)


def _svg(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", transparent=True, bbox_inches="tight")
    return buf.getvalue()


def _axes(width: float = 5.6, height: float = 2.8):  # type: ignore[no-untyped-def]
    fig = Figure(figsize=(width, height))
    ax = fig.add_subplot()
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="y" if width else "x", color=GRID, linewidth=0.8)
    ax.set_axisbelow(True)
    return fig, ax


def bars(
    labels: Sequence[str],
    values: Sequence[float],
    colors: Sequence[str] | str = ACCENT,
    value_format: str = "{:,.0f}",
    ylabel: str = "",
) -> bytes:
    """Vertical bars with their values written above them."""
    fig, ax = _axes()
    if not labels:
        ax.text(0.5, 0.5, "no data yet", ha="center", va="center", color=MUTED, transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return _svg(fig)
    drawn = ax.bar(list(labels), list(values), color=colors, width=0.6)
    ax.bar_label(drawn, labels=[value_format.format(v) for v in values], padding=3, color=INK, fontsize=9)
    ax.set_ylim(0, max([*values, 1]) * 1.18)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.tick_params(axis="x", length=0)
    if ylabel:
        ax.set_ylabel(ylabel)
    return _svg(fig)


def horizontal(
    labels: Sequence[str], values: Sequence[float], color: str = ACCENT, value_format: str = "{:,.0f}"
) -> bytes:
    """Horizontal bars (for amounts by currency), largest at the top."""
    fig = Figure(figsize=(5.6, max(1.4, 0.55 * len(labels) + 0.8)))
    ax = fig.add_subplot()
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    if not labels:
        ax.spines["left"].set_visible(False)
        ax.text(0.5, 0.5, "nothing overdue", ha="center", va="center", color=GOOD, transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return _svg(fig)
    drawn = ax.barh(list(labels)[::-1], list(values)[::-1], color=color, height=0.55)
    ax.bar_label(drawn, labels=[value_format.format(v) for v in list(values)[::-1]], padding=4, fontsize=9)
    ax.set_xlim(0, max(values) * 1.3)
    ax.set_xticks([])
    ax.tick_params(axis="y", length=0)
    return _svg(fig)


def donut(share: float, label: str, color: str = ACCENT) -> bytes:
    """One share (0..1) as a ring with the percentage in the middle."""
    fig = Figure(figsize=(2.6, 2.6))
    ax = fig.add_subplot()
    share = min(max(share, 0.0), 1.0)
    ax.pie(
        [share, 1 - share],
        colors=[color, GRID],
        startangle=90,
        counterclock=False,
        wedgeprops={"width": 0.28, "edgecolor": "white"},
    )
    ax.text(0, 0.08, f"{share:.0%}", ha="center", va="center", fontsize=20, color=INK, fontweight="bold")
    ax.text(0, -0.25, label, ha="center", va="center", fontsize=9, color=MUTED)
    ax.set_aspect("equal")
    return _svg(fig)


def stacked(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float], str]],
    ylabel: str = "",
    empty: str = "no data yet",
) -> bytes:
    """Vertical bars stacked from several series (name, values per label, colour), with a legend and
    each bar's total above it (the weekly cash forecast by source)."""
    fig, ax = _axes(width=7.2, height=3.0)
    totals = [sum(values[k] for _, values, _ in series) for k in range(len(labels))]
    if not labels or not any(totals):
        ax.text(0.5, 0.5, empty, ha="center", va="center", color=MUTED, transform=ax.transAxes)
        ax.set_xticks([])
        ax.set_yticks([])
        return _svg(fig)
    bottom = [0.0] * len(labels)
    for name, values, color in series:
        ax.bar(list(labels), list(values), bottom=bottom, color=color, width=0.65, label=name)
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    top = max(totals)
    for k, total in enumerate(totals):
        if total:
            ax.text(k, total + top * 0.02, f"{total:,.0f}", ha="center", va="bottom", fontsize=7, color=INK)
    ax.set_ylim(0, top * 1.2)
    ax.tick_params(axis="x", length=0, labelsize=8)
    ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=8, frameon=False, ncols=len(series))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    if ylabel:
        ax.set_ylabel(ylabel)
    return _svg(fig)
