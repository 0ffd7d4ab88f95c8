"""The project page's charts: well-formed SVG, user text shown literally (XML-escaped, never mathtext)."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

from handoff.projects import charts
from tests.unit.projects.test_health import _health


def test_plan_vs_actual_escapes_phase_names() -> None:
    h = _health()
    hostile = dataclasses.replace(h.phases[0], name="<b>$x^2$</b> & co")
    svg = charts.plan_vs_actual([hostile, *h.phases[1:]]).decode()
    ET.fromstring(svg)  # well-formed
    assert "<b>" not in svg and "&lt;b&gt;$x^2$&lt;/b&gt; &amp; co" in svg  # literal dollars: no mathtext
    assert "outside the plan" in svg and "estimate at completion" in svg


def test_burn_up_lines_and_empty_charts() -> None:
    h = _health()
    svg = charts.burn_up(h.weeks, float(h.total.budget)).decode()
    ET.fromstring(svg)
    assert "14 Dec" in svg and "budget" in svg and "worked" in svg
    assert "no hours yet" in charts.burn_up([], 0.0).decode()
    assert "no phases planned" in charts.plan_vs_actual([]).decode()


def test_labels_are_clipped() -> None:
    assert charts.label("x" * 40) == "x" * 23 + "…"
    assert charts.label("a $5 fee") == r"a \$5 fee"
