from __future__ import annotations

from decimal import Decimal

from hawker.web.charts import bar_chart, line_chart

HOSTILE = '<script>alert(1)</script>"&'


def test_a_line_chart_plots_each_value_and_breaks_at_gaps() -> None:
    svg = str(line_chart("chart-x", "Viewers", [("m1", 2), ("m2", None), ("m3", 4), ("m4", 1)]))
    assert 'data-testid="chart-x"' in svg
    assert svg.count("<polyline") == 2  # m1 alone, then m3 and m4
    assert svg.count("<circle") == 3
    assert 'data-value="4"' in svg


def test_text_in_a_chart_is_escaped() -> None:
    svg = str(bar_chart("chart-y", HOSTILE, [(HOSTILE, Decimal("12.50"))], fmt=lambda v: f"${v}"))
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;&amp;" in svg
    assert 'data-value="$12.50"' in svg


def test_empty_charts_say_so() -> None:
    assert "No data yet" in str(line_chart("a", "A", [("m1", None)]))
    assert "No shows yet" in str(bar_chart("b", "B", []))
