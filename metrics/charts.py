"""Server-side SVG charts for dashboards and PDF reports.

One markup serves both the browser and WeasyPrint, so there is no JavaScript and no inline
`style=` (the site's CSP forbids inline styles; SVG presentation attributes such as `fill`
and `font-size` are allowed). Every chart:

- is a complete `<svg>` with width, height and viewBox, `role="img"`, and a `<title>` and a
  `<desc>` that state the data in words, because a screen reader cannot read a drawing;
- escapes every piece of text, because labels come from tenant data;
- uses the Okabe-Ito palette, safe for the common colour-vision deficiencies, and never
  relies on colour alone (markers differ by shape, below-threshold bars say so in words);
- is deterministic (same input, same bytes), so reports can be signed and compared.

Values are plain numbers. With `unit="seconds"` they are durations and axes read
"12 min", "3.5 h", "2.1 d"; with `unit="%"` percentages; any other unit is a suffix
("cases"), and "" means a bare number.
"""

from __future__ import annotations

import hashlib
import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from metrics.clocks import percentile
from metrics.summary import format_duration, format_percent

SECONDS = "seconds"
PERCENT = "%"

# Okabe & Ito (2008), ordered so the first colours are the most distinct on white.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")
BELOW_COLOUR = "#D55E00"  # vermilion: bars below a threshold (also labelled in words)
INK = "#1A1A1A"
MUTED = "#595959"  # 7:1 contrast on white
GRID = "#D9D9D9"
FONT_FAMILY = "DejaVu Sans, Helvetica, Arial, sans-serif"
FONT_SIZE = 12
DASH = "6 4"

WIDTH, HEIGHT = 640, 320
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 72, 24, 28, 56
LABEL_CHARS = 24  # longer category labels are clipped on the axis (kept whole in <desc>)

# Steps a reader recognises on a duration axis: 15 min, 1 h, 6 h, 1 d, 1 week...
_DURATION_STEPS = (
    1, 2, 5, 10, 15, 30,
    60, 120, 300, 600, 900, 1800,
    3600, 7200, 10800, 21600, 43200,
    86400, 2 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 90 * 86400, 180 * 86400, 365 * 86400,
)  # fmt: skip
# Characters XML 1.0 forbids even when escaped; a label containing one would break the page.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


# --- Text and numbers ---------------------------------------------------------------------


def _escape(text: str) -> str:
    """Escape for XML text and attribute values, dropping characters XML cannot carry."""
    return html.escape(_NOT_XML.sub("\ufffd", text), quote=True)


def _clip(text: str, limit: int = LABEL_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _num(value: float) -> str:
    """Coordinates with at most two decimals and no "-0", for short and stable output."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def format_value(value: float, unit: str) -> str:
    """A value as printed on an axis, a tooltip or a description."""
    if unit == SECONDS:
        return format_duration(value)
    if unit == PERCENT:
        return format_percent(value)
    return f"{_num(value)} {unit}" if unit else _num(value)


MAX_MAGNITUDE = 1e15  # about 30 million years in seconds: anything larger is a bug upstream


def _check_finite(values: Iterable[float]) -> list[float]:
    """Reject NaN, infinities and absurd magnitudes rather than draw nonsense."""
    result = [float(v) for v in values]
    if not all(math.isfinite(v) and abs(v) <= MAX_MAGNITUDE for v in result):
        raise ValueError(f"chart values must be finite numbers within +/-{MAX_MAGNITUDE:g}")
    return result


def _check_target(target: float | None) -> float | None:
    return None if target is None else _check_finite([target])[0]


# --- SVG elements -------------------------------------------------------------------------


def _element(name: str, content: str | None = None, **attrs: float | str | None) -> str:
    """One SVG element; attribute names use `_` for `-`, None attributes are left out."""
    parts = [name]
    for key, value in attrs.items():
        if value is None:
            continue
        shown = _num(value) if isinstance(value, int | float) else _escape(value)
        parts.append(f'{key.rstrip("_").replace("_", "-")}="{shown}"')
    opening = " ".join(parts)
    if content is None:
        return f"<{opening}/>"
    return f"<{opening}>{content}</{name}>"


def _text(x: float, y: float, text: str, **attrs: float | str | None) -> str:
    attrs.setdefault("fill", INK)
    return _element("text", _escape(text), x=x, y=y, **attrs)


def _line(x1: float, y1: float, x2: float, y2: float, **attrs: float | str | None) -> str:
    attrs.setdefault("stroke", INK)
    return _element("line", x1=x1, y1=y1, x2=x2, y2=y2, **attrs)


def _group(children: Iterable[str], tooltip: str | None = None) -> str:
    """A <g>; its <title> is the tooltip browsers show on hover."""
    inner = (_element("title", _escape(tooltip)) if tooltip else "") + "".join(children)
    return f"<g>{inner}</g>"


def _document(width: int, height: int, title: str, desc: str, body: Iterable[str]) -> str:
    """The <svg> root. Ids derive from the content, so output stays deterministic."""
    content = "".join(body)
    digest = hashlib.sha256(f"{title}\0{desc}\0{content}".encode()).hexdigest()[:12]
    uid = f"chart-{digest}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{uid}-title {uid}-desc" '
        f'font-family="{_escape(FONT_FAMILY)}" font-size="{FONT_SIZE}">'
        f'<title id="{uid}-title">{_escape(title)}</title>'
        f'<desc id="{uid}-desc">{_escape(desc)}</desc>'
        f'<rect width="{width}" height="{height}" fill="#FFFFFF"/>'
        f"{content}</svg>"
    )


def _no_data(width: int, height: int, title: str) -> str:
    message = _text(width / 2, height / 2, "No data", text_anchor="middle", fill=MUTED)
    return _document(width, height, title, "No data for this chart.", [message])


# --- Scales and axes ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Scale:
    """Maps a value domain [lo, hi] linearly to a pixel range [start, end]."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        return self.start + (value - self.lo) / (self.hi - self.lo) * (self.end - self.start)


def _step(raw: float, unit: str, integer: bool) -> float:
    raw = max(raw, 1e-9)  # a range narrower than this is drawn as if it were this wide
    if unit == SECONDS and raw <= _DURATION_STEPS[-1]:
        return next(step for step in _DURATION_STEPS if step >= raw)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return max(round(step), 1) if integer else step


def _ticks(
    values: Sequence[float], unit: str, *, count: int = 5, integer: bool = False
) -> list[float]:
    """Round tick values covering `values` and zero (a bar or a duration starts at zero).

    `integer` keeps ticks whole, for axes that count things.
    """
    lo, hi = min(0.0, *values), max(0.0, *values)
    if hi == lo:
        hi = lo + 1
    step = _step((hi - lo) / count, unit, integer)
    first, last = math.floor(lo / step), math.ceil(hi / step)
    return [round(i * step, 9) for i in range(first, last + 1)]


def _y_axis(scale: _Scale, ticks: Sequence[float], unit: str, left: float, right: float) -> str:
    """Horizontal grid lines with their values on the left."""
    parts = []
    for tick in ticks:
        y = scale(tick)
        parts.append(_line(left, y, right, y, stroke=GRID))
        parts.append(_text(left - 6, y + 4, format_value(tick, unit), text_anchor="end"))
    parts.append(_line(left, scale.start, left, scale.end, stroke=MUTED))
    return "".join(parts)


def _target_line(y: float, left: float, right: float, label: str) -> str:
    """A target across the plot: a dashed horizontal line with its value written on it."""
    return _group(
        [
            _line(left, y, right, y, stroke_width=1.5, stroke_dasharray=DASH),
            _text(right, y - 5, label, text_anchor="end", font_size=11),
        ]
    )


def _target_column(x: float, top: float, bottom: float, label: str, centre: float) -> str:
    """A target along the value axis: a dashed vertical line labelled above the plot.

    The label runs away from the middle of the chart (`centre`) so it never leaves it.
    """
    on_left = x < centre
    return _group(
        [
            _line(x, top, x, bottom, stroke_width=1.5, stroke_dasharray=DASH),
            _text(
                x + 4 if on_left else x - 4,
                top - 6,
                label,
                text_anchor="start" if on_left else "end",
                font_size=11,
            ),
        ]
    )


CHAR_WIDTH = 7  # estimated px per character at 12 px; the server cannot measure fonts


def _label_step(labels: Sequence[str], span: float) -> int:
    """Label every n-th position so the widest label never collides with its neighbour."""
    widest = CHAR_WIDTH * max(len(label) for label in labels) + 12
    fits = max(1, int(span // widest))
    return max(1, math.ceil(len(labels) / fits))


@dataclass(frozen=True)
class _Plot:
    """The plotting area of a chart with a y value axis."""

    width: int
    height: int
    top: float = MARGIN_TOP

    @property
    def left(self) -> float:
        return MARGIN_LEFT

    @property
    def right(self) -> float:
        return self.width - MARGIN_RIGHT

    @property
    def bottom(self) -> float:
        return self.height - MARGIN_BOTTOM

    def y_scale(self, ticks: Sequence[float]) -> _Scale:
        return _Scale(ticks[0], ticks[-1], self.bottom, self.top)

    def band_centre(self, index: int, count: int) -> float:
        band = (self.right - self.left) / count
        return self.left + band * (index + 0.5)


def _target_text(target: float | None, unit: str) -> str:
    return "" if target is None else f" Target {format_value(target, unit)}."


# --- Box plot -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Box:
    low: float
    q1: float
    median: float
    q3: float
    high: float
    outliers: tuple[float, ...]
    count: int


def _box(values: Sequence[float]) -> _Box:
    """Tukey box: whiskers reach the furthest values within 1.5 IQR, the rest are outliers."""
    q1, median, q3 = (percentile(values, f) for f in (0.25, 0.5, 0.75))
    assert q1 is not None and median is not None and q3 is not None  # values is not empty
    reach = 1.5 * (q3 - q1)
    inside = [v for v in values if q1 - reach <= v <= q3 + reach]
    outliers = tuple(sorted(v for v in values if not q1 - reach <= v <= q3 + reach))
    return _Box(min(inside), q1, median, q3, max(inside), outliers, len(values))


def _describe_box(label: str, box: _Box, unit: str) -> str:
    def fmt(v: float) -> str:
        return format_value(v, unit)

    text = (
        f"{label}: {box.count} value{'s' if box.count != 1 else ''}, median {fmt(box.median)}, "
        f"quartiles {fmt(box.q1)} to {fmt(box.q3)}, whiskers {fmt(box.low)} to {fmt(box.high)}"
    )
    if box.outliers:
        text += f", {len(box.outliers)} outlier{'s' if len(box.outliers) != 1 else ''}"
    return text + "."


def _draw_box(box: _Box, cx: float, half: float, y: _Scale) -> list[str]:
    """Whiskers with caps, the interquartile box, a heavy median line, hollow outliers."""
    colour = PALETTE[0]
    shapes = [
        _line(cx, y(box.low), cx, y(box.q1), stroke=colour),
        _line(cx, y(box.q3), cx, y(box.high), stroke=colour),
        _line(cx - half / 2, y(box.low), cx + half / 2, y(box.low), stroke=colour),
        _line(cx - half / 2, y(box.high), cx + half / 2, y(box.high), stroke=colour),
        _element(
            "rect",
            x=cx - half,
            y=y(box.q3),
            width=2 * half,
            height=max(y(box.q1) - y(box.q3), 1),
            fill=colour,
            fill_opacity=0.25,
            stroke=colour,
        ),
        _line(cx - half, y(box.median), cx + half, y(box.median), stroke=INK, stroke_width=2.5),
    ]
    shapes += [
        _element("circle", cx=cx, cy=y(v), r=3, fill="none", stroke=colour) for v in box.outliers
    ]
    return shapes


def _boxes_chart(
    boxes: Mapping[str, _Box | None],
    extent: Sequence[float],
    unit: str,
    target: float | None,
    *,
    title: str,
    width: int,
    height: int,
    whiskers: str = "whiskers",
) -> str:
    """Draw one box per label (None: "no data"); `extent` are the values the axis covers."""
    plot = _Plot(width, height)
    ticks = _ticks([*extent, *([target] if target is not None else [])], unit)
    y = plot.y_scale(ticks)
    body = [_y_axis(y, ticks, unit, plot.left, plot.right)]
    half = min((plot.right - plot.left) / len(boxes) * 0.25, 30)
    descriptions = []
    for index, (label, box) in enumerate(boxes.items()):
        cx = plot.band_centre(index, len(boxes))
        body.append(_text(cx, plot.bottom + 18, _clip(label), text_anchor="middle"))
        count = f"n = {box.count if box else 0}"
        body.append(_text(cx, plot.bottom + 34, count, text_anchor="middle", fill=MUTED))
        if box is None:
            middle = (plot.top + plot.bottom) / 2
            body.append(_text(cx, middle, "no data", text_anchor="middle", fill=MUTED))
            descriptions.append(f"{label}: no data.")
            continue
        description = _describe_box(label, box, unit).replace(", whiskers", f", {whiskers}")
        descriptions.append(description)
        body.append(_group(_draw_box(box, cx, half, y), tooltip=description))
    if target is not None:
        label = f"Target {format_value(target, unit)}"
        body.append(_target_line(y(target), plot.left, plot.right, label))
    desc = " ".join(descriptions) + _target_text(target, unit)
    return _document(width, height, title, desc, body)


def box_plot(
    series: Mapping[str, Sequence[float]],
    unit: str,
    target: float | None = None,
    *,
    title: str = "Distribution",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """One box per series label (for example, per phase), with the target as a dashed line.

    Below each box its label and the number of values, because a median of two cases and
    one of two hundred must not look alike.
    """
    data = {label: _check_finite(values) for label, values in series.items()}
    target = _check_target(target)
    if not any(data.values()):
        return _no_data(width, height, title)
    boxes = {label: _box(values) if values else None for label, values in data.items()}
    everything = [v for values in data.values() for v in values]
    return _boxes_chart(boxes, everything, unit, target, title=title, width=width, height=height)


@dataclass(frozen=True)
class Quantiles:
    """A distribution summarised by the database (no values at hand): for a year of cases
    the box plot is drawn from percentiles computed by the aggregation."""

    count: int
    p10: float
    p25: float
    median: float
    p75: float
    p90: float


def box_plot_quantiles(
    series: Mapping[str, Quantiles | None],
    unit: str,
    target: float | None = None,
    *,
    title: str = "Distribution",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """`box_plot` from percentiles: the box spans the quartiles and the whiskers the 10th
    to the 90th percentile (outliers are not drawn: the values are not at hand)."""
    boxes: dict[str, _Box | None] = {}
    for label, q in series.items():
        if q is None or q.count == 0:
            boxes[label] = None
            continue
        low, q1, median, q3, high = _check_finite([q.p10, q.p25, q.median, q.p75, q.p90])
        if not low <= q1 <= median <= q3 <= high:
            raise ValueError(f"{label!r}: percentiles must be in order")
        boxes[label] = _Box(low, q1, median, q3, high, (), q.count)
    target = _check_target(target)
    present = [box for box in boxes.values() if box is not None]
    if not present:
        return _no_data(width, height, title)
    extent = [v for box in present for v in (box.low, box.high)]
    return _boxes_chart(
        boxes,
        extent,
        unit,
        target,
        title=title,
        width=width,
        height=height,
        whiskers="10th to 90th percentile",
    )


# --- Histogram ----------------------------------------------------------------------------


def histogram(
    values: Sequence[float],
    bins: int,
    unit: str,
    target: float | None = None,
    *,
    title: str = "Histogram",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """Equal-width bins from the smallest to the largest value; the target as a dashed line.

    When every value is equal there is one bar, labelled with that value: inventing a range
    around it would suggest a spread that does not exist.
    """
    if bins < 1:
        raise ValueError("bins must be at least 1")
    data = _check_finite(values)
    target = _check_target(target)
    if not data:
        return _no_data(width, height, title)
    lo, hi = min(data), max(data)
    if lo == hi:
        bins = 1
    bin_width = (hi - lo) / bins
    counts = [0] * bins
    for value in data:
        index = bins - 1 if bin_width == 0 else min(int((value - lo) / bin_width), bins - 1)
        counts[index] += 1
    edges = [lo + i * bin_width for i in range(bins + 1)]

    plot = _Plot(width, height)
    y_ticks = _ticks(counts, "", integer=True)
    y = plot.y_scale(y_ticks)
    span = [lo, hi] + ([target] if target is not None else [])
    if lo != hi:
        x = _Scale(min(span), max(span), plot.left, plot.right)
        bar_edges = [(x(edges[i]), x(edges[i + 1])) for i in range(bins)]
    else:
        # One value: a bar of fixed width at that value, padded away from the axis.
        pad = (max(span) - min(span)) * 0.1 or 0.5
        x = _Scale(min(span) - pad, max(span) + pad, plot.left, plot.right)
        bar_edges = [(x(lo) - 20, x(lo) + 20)]

    body = [_y_axis(y, y_ticks, "", plot.left, plot.right)]
    for index, (x0, x1) in enumerate(bar_edges):
        count = counts[index]
        bar_range = (
            format_value(lo, unit)
            if lo == hi
            else f"{format_value(edges[index], unit)} to {format_value(edges[index + 1], unit)}"
        )
        bar = _element(
            "rect",
            x=x0 + 0.5,
            y=y(count),
            width=max(x1 - x0 - 1, 1),
            height=y(0) - y(count),
            fill=PALETTE[0],
        )
        tooltip = f"{bar_range}: {count} value{'s' if count != 1 else ''}"
        body.append(_group([bar], tooltip=tooltip))
    if lo == hi:
        body.append(_text(x(lo), plot.bottom + 18, format_value(lo, unit), text_anchor="middle"))
    else:
        edge_labels = [format_value(edge, unit) for edge in edges]
        for index in range(0, len(edges), _label_step(edge_labels, plot.right - plot.left)):
            body.append(_line(x(edges[index]), plot.bottom, x(edges[index]), plot.bottom + 4))
            body.append(
                _text(
                    x(edges[index]),
                    plot.bottom + 18,
                    edge_labels[index],
                    text_anchor="middle",
                )
            )
    if target is not None:
        label = f"Target {format_value(target, unit)}"
        centre = (plot.left + plot.right) / 2
        body.append(_target_column(x(target), plot.top, plot.bottom, label, centre))
    busiest = max(range(bins), key=lambda i: counts[i])
    desc = (
        f"{len(data)} value{'s' if len(data) != 1 else ''} from {format_value(lo, unit)} to "
        f"{format_value(hi, unit)} in {bins} bin{'s' if bins != 1 else ''}; the largest bin "
        f"holds {counts[busiest]}."
    )
    if target is not None:
        within = sum(1 for v in data if v <= target)
        desc += f" Target {format_value(target, unit)}: {within} of {len(data)} at or below it."
    return _document(width, height, title, desc, body)


# --- Trend lines --------------------------------------------------------------------------

_MARKERS = ("circle", "square", "triangle", "diamond")


def _marker(shape: str, cx: float, cy: float, colour: str) -> str:
    """A point marker; shapes differ per series so lines are told apart without colour."""
    if shape == "circle":
        return _element("circle", cx=cx, cy=cy, r=4, fill=colour)
    if shape == "square":
        return _element("rect", x=cx - 3.5, y=cy - 3.5, width=7, height=7, fill=colour)
    if shape == "triangle":
        points = [(cx, cy - 5), (cx - 4.5, cy + 3.5), (cx + 4.5, cy + 3.5)]
    else:
        points = [(cx, cy - 5), (cx + 5, cy), (cx, cy + 5), (cx - 5, cy)]
    return _element(
        "polygon", points=" ".join(f"{_num(a)},{_num(b)}" for a, b in points), fill=colour
    )


def _segments(values: Sequence[float | None]) -> list[list[int]]:
    """Runs of consecutive known values: a missing period breaks the line."""
    runs: list[list[int]] = [[]]
    for index, value in enumerate(values):
        if value is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append(index)
    return [run for run in runs if run]


LEGEND_CHARS = 20


def _legend_positions(
    labels: Sequence[str], left: float, right: float
) -> list[tuple[float, float]]:
    """Baseline positions of legend entries, left to right, wrapping onto new rows.

    Widths are estimated with CHAR_WIDTH, which is enough to keep entries apart.
    """
    positions = []
    x, y = left, 16.0
    for label in labels:
        entry = 24 + CHAR_WIDTH * len(_clip(label, LEGEND_CHARS)) + 16
        if x > left and x + entry > right:
            x, y = left, y + 18
        positions.append((x, y))
        x += entry
    return positions


def trend_lines(
    points: Mapping[str, Sequence[tuple[str, float | None]]],
    unit: str,
    target: float | None = None,
    *,
    title: str = "Trend",
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """One line per series over periods; None is a gap, never a zero.

    Periods appear in the order first seen across the series (the caller sorts them).
    """
    target = _check_target(target)
    periods: list[str] = []
    table: dict[str, dict[str, float | None]] = {}
    for label, series_points in points.items():
        row: dict[str, float | None] = {}
        for period, value in series_points:
            if period in row:
                raise ValueError(f"period {period!r} appears twice in series {label!r}")
            row[period] = None if value is None else _check_finite([value])[0]
            if period not in periods:
                periods.append(period)
        table[label] = row
    known = [v for row in table.values() for v in row.values() if v is not None]
    if not known:
        return _no_data(width, height, title)

    legend = _legend_positions(list(table), MARGIN_LEFT, width - MARGIN_RIGHT)
    plot = _Plot(width, height, top=max(y for _, y in legend) + 20)
    ticks = _ticks(known + ([target] if target is not None else []), unit)
    y = plot.y_scale(ticks)
    body = [_y_axis(y, ticks, unit, plot.left, plot.right)]
    period_labels = [_clip(period, 12) for period in periods]
    for index in range(0, len(periods), _label_step(period_labels, plot.right - plot.left)):
        cx = plot.band_centre(index, len(periods))
        body.append(_text(cx, plot.bottom + 18, period_labels[index], text_anchor="middle"))

    descriptions = []
    for number, (label, row) in enumerate(table.items()):
        colour = PALETTE[number % len(PALETTE)]
        shape = _MARKERS[number % len(_MARKERS)]
        values = [row.get(period) for period in periods]
        xy = {
            i: (plot.band_centre(i, len(periods)), y(v))
            for i, v in enumerate(values)
            if v is not None
        }
        shapes = [
            _element(
                "polyline",
                points=" ".join(f"{_num(xy[i][0])},{_num(xy[i][1])}" for i in run),
                fill="none",
                stroke=colour,
                stroke_width=2,
            )
            for run in _segments(values)
            if len(run) > 1
        ]
        shapes += [_marker(shape, cx, cy, colour) for cx, cy in xy.values()]
        readings = ", ".join(
            f"{period} {'no data' if v is None else format_value(v, unit)}"
            for period, v in zip(periods, values, strict=True)
        )
        description = f"{label}: {readings}."
        descriptions.append(description)
        body.append(_group(shapes, tooltip=description))
        lx, ly = legend[number]
        body.append(_line(lx, ly - 4, lx + 18, ly - 4, stroke=colour, stroke_width=2))
        body.append(_marker(shape, lx + 9, ly - 4, colour))
        body.append(_text(lx + 24, ly, _clip(label, LEGEND_CHARS)))
    if target is not None:
        label = f"Target {format_value(target, unit)}"
        body.append(_target_line(y(target), plot.left, plot.right, label))
    return _document(
        width, height, title, " ".join(descriptions) + _target_text(target, unit), body
    )


# --- Compliance bars ----------------------------------------------------------------------

ROW_HEIGHT = 28
BARS_LABEL_WIDTH = 180


def compliance_bars(
    items: Sequence[tuple[str, float | None]],
    threshold: float | None = None,
    *,
    title: str = "SLA compliance",
    width: int = WIDTH,
) -> str:
    """Horizontal bars, 0-100 %, one row per item; the height grows with the rows.

    Bars below `threshold` are vermilion *and* say "below" in words; None is "no data",
    which is not the same as 0 %.
    """
    for label, pct in [*items, ("threshold", threshold)]:
        if pct is not None and not 0 <= pct <= 100:
            raise ValueError(f"{label!r} must be a percentage between 0 and 100, not {pct}")
    if not items:
        return _no_data(width, 120, title)
    top, bottom = MARGIN_TOP + 8, 32
    height = top + ROW_HEIGHT * len(items) + bottom
    left, right = BARS_LABEL_WIDTH, width - MARGIN_RIGHT - 90  # room for the value text
    x = _Scale(0, 100, left, right)
    body = []
    for tick in (0, 25, 50, 75, 100):
        body.append(_line(x(tick), top, x(tick), height - bottom, stroke=GRID))
        body.append(
            _text(x(tick), height - bottom + 16, format_percent(tick), text_anchor="middle")
        )
    descriptions = []
    for index, (label, pct) in enumerate(items):
        row_top = top + ROW_HEIGHT * index
        middle = row_top + ROW_HEIGHT / 2
        body.append(_text(left - 8, middle + 4, _clip(label), text_anchor="end"))
        if pct is None:
            body.append(_text(left + 4, middle + 4, "no data", fill=MUTED))
            descriptions.append(f"{label}: no data.")
            continue
        below = threshold is not None and pct < threshold
        value_text = format_percent(pct) + (" (below)" if below else "")
        bar = _element(
            "rect",
            x=left,
            y=row_top + 5,
            width=max(x(pct) - left, 0),
            height=ROW_HEIGHT - 10,
            fill=BELOW_COLOUR if below else PALETTE[0],
        )
        value = _text(x(pct) + 6, middle + 4, value_text)
        description = f"{label}: {value_text}."
        descriptions.append(description)
        body.append(_group([bar, value], tooltip=description))
    if threshold is not None:
        label = f"Threshold {format_percent(threshold)}"
        body.append(_target_column(x(threshold), top - 4, height - bottom, label, x(50)))
    desc = " ".join(descriptions)
    if threshold is not None:
        desc += f" Threshold {format_percent(threshold)}."
    return _document(width, height, title, desc, body)
