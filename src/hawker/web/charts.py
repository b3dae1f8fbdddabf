"""Charts drawn on the server as inline SVG: a line over the minutes of a show, bars across
shows. Every piece of text in them (titles, labels, tooltips) is escaped here, so a page may
include a chart as it is; the numbers are only ever plotted, never parsed from the page."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

from markupsafe import Markup, escape

WIDTH, HEIGHT = 600, 180
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 24
Number = int | Decimal


def _text(x: float, y: float, text: str, anchor: str = "start", cls: str = "ch-label") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{cls}">{escape(text)}</text>'
    )


def _frame(testid: str, title: str, body: list[str]) -> Markup:
    return Markup(
        f'<figure class="ch" data-testid="{escape(testid)}">'
        f"<figcaption>{escape(title)}</figcaption>"
        f'<svg class="ch-svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg></figure>"
    )


def _axes(top: Number, fmt: Callable[[Number], str]) -> list[str]:
    bottom_y = HEIGHT - BOTTOM
    return [
        f'<line class="ch-axis" x1="{LEFT}" y1="{bottom_y}" x2="{WIDTH - RIGHT}" y2="{bottom_y}"/>',
        f'<line class="ch-grid" x1="{LEFT}" y1="{TOP}" x2="{WIDTH - RIGHT}" y2="{TOP}"/>',
        _text(LEFT - 6, TOP + 4, fmt(top), "end"),
        _text(LEFT - 6, bottom_y + 4, fmt(0), "end"),
    ]


def line_chart(
    testid: str,
    title: str,
    points: Sequence[tuple[str, Number | None]],
    *,
    fmt: Callable[[Number], str] = str,
) -> Markup:
    """One value per point (None: no value, a gap in the line), labelled along the bottom
    by the first and last point's label."""
    values = [v for _, v in points if v is not None]
    top: Number = max(values, default=0) or 1
    span_x = WIDTH - LEFT - RIGHT
    span_y = HEIGHT - TOP - BOTTOM
    step = span_x / max(1, len(points) - 1)
    body = _axes(top, fmt)
    runs: list[list[str]] = [[]]
    dots = []
    for i, (label, value) in enumerate(points):
        if value is None:
            runs.append([])
            continue
        x = LEFT + i * step
        y = TOP + span_y - float(Decimal(value) / Decimal(top)) * span_y
        runs[-1].append(f"{x:.1f},{y:.1f}")
        dots.append(
            f'<circle class="ch-dot" cx="{x:.1f}" cy="{y:.1f}" r="2.5" '
            f'data-value="{escape(fmt(value))}">'
            f"<title>{escape(label)}: {escape(fmt(value))}</title></circle>"
        )
    body += [f'<polyline class="ch-line" points="{" ".join(run)}"/>' for run in runs if run]
    body += dots
    if points:
        body.append(_text(LEFT, HEIGHT - 6, points[0][0]))
        if len(points) > 1:
            body.append(_text(WIDTH - RIGHT, HEIGHT - 6, points[-1][0], "end"))
    if not values:
        body.append(_text(WIDTH / 2, HEIGHT / 2, "No data yet", "middle", "ch-empty"))
    return _frame(testid, title, body)


def bar_chart(
    testid: str,
    title: str,
    bars: Sequence[tuple[str, Number]],
    *,
    fmt: Callable[[Number], str] = str,
) -> Markup:
    """One bar per label, in the order given, with its value as a tooltip."""
    top: Number = max((v for _, v in bars), default=0) or 1
    span_x = WIDTH - LEFT - RIGHT
    span_y = HEIGHT - TOP - BOTTOM
    slot = span_x / max(1, len(bars))
    width = max(2.0, slot * 0.7)
    body = _axes(top, fmt)
    for i, (label, value) in enumerate(bars):
        height = float(Decimal(value) / Decimal(top)) * span_y
        x = LEFT + i * slot + (slot - width) / 2
        body.append(
            f'<rect class="ch-bar" x="{x:.1f}" y="{TOP + span_y - height:.1f}" '
            f'width="{width:.1f}" height="{height:.1f}" data-value="{escape(fmt(value))}">'
            f"<title>{escape(label)}: {escape(fmt(value))}</title></rect>"
        )
        if len(bars) <= 12:
            short = label if len(label) <= 14 else label[:13] + "…"
            body.append(_text(x + width / 2, HEIGHT - 6, short, "middle"))
    if not bars:
        body.append(_text(WIDTH / 2, HEIGHT / 2, "No shows yet", "middle", "ch-empty"))
    return _frame(testid, title, body)
