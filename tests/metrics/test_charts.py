"""SVG charts: valid, accessible, escaped, CSP-safe and deterministic."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.charts import PALETTE, box_plot, compliance_bars, histogram, trend_lines

NS = {"svg": "http://www.w3.org/2000/svg"}
SVG = "{http://www.w3.org/2000/svg}"
EVIL = '<script>alert("x")</script> & "quotes"'


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # noqa: S314 - our own output, parsed to check it is well formed
    assert root.tag == f"{SVG}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def tags(root: ET.Element) -> set[str]:
    return {element.tag.removeprefix(SVG) for element in root.iter()}


CHARTS = {
    "box_plot": lambda label: box_plot(
        {label: [300, 600, 700, 900, 20000], "Persistence": [1200]}, "seconds", target=900
    ),
    "histogram": lambda label: histogram(
        [60 * i for i in range(1, 30)], 8, "seconds", target=900, title=label
    ),
    "trend_lines": lambda label: trend_lines(
        {label: [("Sep", 3600), ("Oct", None), ("Nov", 5400)], "Other": [("Sep", 7200)]},
        "seconds",
        target=14400,
    ),
    "compliance_bars": lambda label: compliance_bars([(label, 97.5), ("Scoping", 80)], 95),
}


@pytest.mark.parametrize("name", CHARTS)
def test_every_chart_is_an_accessible_sized_svg(name):
    svg = CHARTS[name]("Initial infection")
    root = parse(svg)
    assert root.get("role") == "img"
    assert root.get("width") and root.get("height")
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    title, desc = root.find("svg:title", NS), root.find("svg:desc", NS)
    assert title is not None and title.text
    assert desc is not None and desc.text
    assert root.get("aria-labelledby") == f"{title.get('id')} {desc.get('id')}"


@pytest.mark.parametrize("name", CHARTS)
def test_user_labels_are_escaped_and_never_become_markup(name):
    svg = CHARTS[name](EVIL)
    root = parse(svg)
    assert "script" not in tags(root)
    assert "<script>" not in svg
    everything = " ".join([*texts(root), "".join(root.itertext())])
    assert "<script>" in everything  # shown to the reader as text, clipped or whole


@pytest.mark.parametrize("name", CHARTS)
def test_no_inline_styles_so_a_strict_csp_allows_the_chart(name):
    root = parse(CHARTS[name]("Initial infection"))
    assert "style" not in tags(root)
    assert not any("style" in element.attrib for element in root.iter())


@pytest.mark.parametrize("name", CHARTS)
def test_the_same_input_gives_the_same_bytes(name):
    assert CHARTS[name]("Initial infection") == CHARTS[name]("Initial infection")


@pytest.mark.parametrize("name", ["box_plot", "histogram", "trend_lines"])
def test_the_target_is_a_dashed_reference_line_labelled_with_its_duration(name):
    root = parse(CHARTS[name]("Initial infection"))
    dashed = [e for e in root.iter(f"{SVG}line") if e.get("stroke-dasharray")]
    assert len(dashed) == 1
    assert any(t.startswith("Target ") for t in texts(root))


def test_duration_axes_read_as_durations():
    root = parse(box_plot({"A": [60, 3600, 7200]}, "seconds"))
    labels = texts(root)
    assert "0 s" in labels and "2 h" in labels


def test_control_characters_in_labels_do_not_break_the_xml():
    parse(box_plot({"bad\x00label\x1b": [1.0]}, ""))


@pytest.mark.parametrize(
    "svg",
    [
        box_plot({}, "seconds"),
        box_plot({"Empty": []}, "seconds"),
        histogram([], 10, "seconds"),
        trend_lines({"A": [("Oct", None)]}, "seconds"),
        compliance_bars([]),
    ],
)
def test_empty_data_says_no_data(svg):
    assert "No data" in texts(parse(svg))


def test_a_box_without_values_next_to_others_says_no_data_and_n_0():
    labels = texts(parse(box_plot({"A": [1.0, 2.0], "B": []}, "")))
    assert "no data" in labels and "n = 0" in labels and "n = 2" in labels


@pytest.mark.parametrize(
    "svg",
    [
        box_plot({"One": [42.0]}, "seconds", target=900),
        box_plot({"Same": [5.0, 5.0, 5.0]}, "%"),
        histogram([600.0], 10, "seconds"),
        histogram([600.0, 600.0, 600.0], 10, "seconds", target=900),
        trend_lines({"One": [("Oct", 0.0)]}, "seconds"),
        trend_lines({"Flat": [("Sep", 3.0), ("Oct", 3.0)]}, "cases"),
    ],
)
def test_one_value_and_all_equal_values_draw_without_error(svg):
    root = parse(svg)
    assert "No data" not in texts(root)


def test_all_equal_values_make_one_histogram_bar_labelled_with_the_value():
    root = parse(histogram([600.0, 600.0, 600.0], 10, "seconds"))
    bars = [g for g in root.iter(f"{SVG}g") if g.find("svg:rect", NS) is not None]
    assert len(bars) == 1
    assert bars[0].find("svg:title", NS).text == "10 min: 3 values"
    assert "10 min" in texts(root)


def test_histogram_counts_every_value_into_a_bin():
    root = parse(histogram([0, 1, 2, 3, 4, 5, 6, 7, 8, 10], 5, ""))
    tooltips = [g.find("svg:title", NS).text for g in root.iter(f"{SVG}g")]
    counts = [int(t.rsplit(": ", 1)[1].split()[0]) for t in tooltips if t]
    assert counts == [2, 2, 2, 2, 2]


def test_a_missing_period_breaks_the_trend_line_instead_of_dropping_to_zero():
    svg = trend_lines({"A": [("1", 1.0), ("2", 2.0), ("3", None), ("4", 3.0), ("5", 4.0)]}, "")
    root = parse(svg)
    assert len(list(root.iter(f"{SVG}polyline"))) == 2
    assert "3 no data" in root.find("svg:desc", NS).text


def test_trend_series_differ_by_marker_shape_as_well_as_colour():
    svg = trend_lines({name: [("Oct", 1.0)] for name in "ABCD"}, "")
    root = parse(svg)
    assert {"circle", "rect", "polygon"} <= tags(root)
    assert all(colour in svg for colour in PALETTE[:4])


def test_a_period_twice_in_one_series_is_an_error():
    with pytest.raises(ValueError, match="twice"):
        trend_lines({"A": [("Oct", 1.0), ("Oct", 2.0)]}, "")


def test_compliance_below_the_threshold_says_so_in_words_and_no_data_is_not_zero():
    root = parse(compliance_bars([("Triage", 99.7), ("Scoping", 80.0), ("Containment", None)], 95))
    labels = texts(root)
    assert "99.7%" in labels and "80% (below)" in labels and "no data" in labels
    assert "Threshold 95%" in labels
    assert len(list(root.iter(f"{SVG}rect"))) == 1 + 2  # background and two bars


@pytest.mark.parametrize(
    "make",
    [
        lambda: compliance_bars([("A", 101.0)]),
        lambda: compliance_bars([("A", 50.0)], threshold=-1),
        lambda: box_plot({"A": [float("nan")]}, ""),
        lambda: histogram([1.0, float("inf")], 3, ""),
        lambda: histogram([1.0], 0, ""),
        lambda: trend_lines({"A": [("Oct", 1.0)]}, "", target=float("nan")),
    ],
)
def test_impossible_values_are_refused(make):
    with pytest.raises(ValueError):
        make()


values = st.lists(st.floats(min_value=-1e9, max_value=1e9), max_size=30)
labels = st.text(max_size=40)


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(labels, values, max_size=4), st.integers(1, 20), labels)
def test_any_data_and_any_label_give_well_formed_svg(series, bins, title):
    every_value = [v for vs in series.values() for v in vs]
    parse(box_plot(series, "seconds", title=title))
    parse(histogram(every_value, bins, "seconds", title=title))
    parse(trend_lines({k: [(str(i), v) for i, v in enumerate(vs)] for k, vs in series.items()}, ""))
    parse(compliance_bars([(k, min(abs(v), 100)) for k, vs in series.items() for v in vs[:1]]))


def test_weasyprint_renders_a_chart_inside_a_pdf():
    weasyprint = pytest.importorskip("weasyprint")
    html = f"<html><body><h1>MTTR</h1>{CHARTS['box_plot']('Initial infection')}</body></html>"
    pdf = weasyprint.HTML(string=html).write_pdf()
    assert pdf.startswith(b"%PDF")


# --- Box plot from percentiles (the aggregation's distributions) ---------------------------


def test_box_plot_from_quantiles_draws_boxes_and_says_what_whiskers_mean():
    from metrics.charts import Quantiles, box_plot_quantiles

    svg = box_plot_quantiles(
        {
            "Initial infection": Quantiles(5, 300, 480, 600, 1200, 1200),
            "Persistence": None,
        },
        "seconds",
        target=900,
        title="Time to triage",
    )
    assert svg.startswith("<svg") and svg.count("<rect") >= 2
    assert "10th to 90th percentile 5 min to 20 min" in svg
    assert "Persistence: no data." in svg and "Target 15 min" in svg


def test_box_plot_from_quantiles_refuses_unordered_percentiles():
    import pytest

    from metrics.charts import Quantiles, box_plot_quantiles

    with pytest.raises(ValueError):
        box_plot_quantiles({"x": Quantiles(2, 10, 5, 7, 8, 9)}, "seconds")
    assert "No data" in box_plot_quantiles({"x": None}, "seconds")
