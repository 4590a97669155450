"""The PDF report of the hand-computed story: it renders (page 1 and a chart page are not
blank), its figures are the API's figures, its structure is what auditors were promised
(table of contents with the right page numbers, running footers, bookmarks, A4 and Letter,
PDF/A-3b with the complete lists attached), and the monthly schedule makes one per month."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from pypdf import PdfReader

from metrics import services
from metrics.models import Report
from metrics.periods import parse_period
from tenancy import roles
from tenancy.context import tenant_context
from tests.fixtures.metrics import EXPECTED_BREACHES

pytestmark = pytest.mark.django_db

PDFTOPPM = shutil.which("pdftoppm") or "/usr/bin/pdftoppm"


def _october_report(story, monkeypatch):
    """The story's October report, generated as the worker does (A4), with the progress
    stages it went through."""
    stages = []
    record = services.report_progress

    def spy(**kwargs):
        stages.append((kwargs["progress"], kwargs["stage"]))
        record(**kwargs)

    monkeypatch.setattr(services, "report_progress", spy)
    with tenant_context(story.tenant):
        report = services.report_request(period=parse_period({"period": "2026-10"}, "UTC"))
        report = services.report_generate(report_id=report.pk)
    assert report.status == "succeeded", report.error
    return report, Path(settings.MEDIA_ROOT) / report.file_path, stages


def test_october_report(metrics_story, monkeypatch, api_client, tmp_path):
    """One rendering (a few seconds), every promise checked on it."""
    report, path, stages = _october_report(metrics_story, monkeypatch)
    reader = PdfReader(path)
    pages = _text(reader)
    _check_pages_render(path, pages, tmp_path)
    _check_figures_equal_the_api(metrics_story, report, pages, api_client)
    _check_lists_and_methodology(metrics_story, pages)
    _check_structure(report, path, reader, pages)
    values = [value for value, _ in stages]
    assert values == sorted(values) and len(values) >= 4 and values[-1] < 100
    assert report.progress == 100 and report.stage == "ready"


def _text(reader: PdfReader) -> list[str]:
    return [page.extract_text() or "" for page in reader.pages]


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _dark_share(png: Path) -> float:
    from PIL import Image

    image = Image.open(png).convert("L")
    histogram = image.histogram()
    dark = sum(histogram[:200])
    return dark / (image.width * image.height)


def _render_page(path: Path, number: int, tmp_path: Path) -> Path:
    if not Path(PDFTOPPM).exists():
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    prefix = tmp_path / f"page{number}"
    subprocess.run(
        [
            PDFTOPPM,
            "-f",
            str(number),
            "-l",
            str(number),
            "-r",
            "60",
            "-png",
            "-singlefile",
            str(path),
            str(prefix),
        ],
        check=True,
        timeout=60,
    )
    return prefix.with_suffix(".png")


def _toc(pages: list[str]) -> dict[str, int]:
    """Section title -> page number, as printed in the table of contents (page 2)."""
    entries = {}
    for line in pages[1].splitlines():
        match = re.match(r"^(.*?)[ .]*\.{3,}\s*(\d+)$", line.strip())
        if match:
            entries[match[1].strip(" .")] = int(match[2])
    return entries


def _check_pages_render(path, pages, tmp_path):
    toc = _toc(pages)
    chart_page = toc["Initial infection"]
    cover = _render_page(path, 1, tmp_path)
    charts = _render_page(path, chart_page, tmp_path)
    assert _dark_share(cover) > 0.005  # text on white
    assert _dark_share(charts) > 0.02  # tables and coloured bars
    from PIL import Image

    colours = Image.open(charts).convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 20  # not a flat page


def _check_figures_equal_the_api(metrics_story, report, pages, api_client):
    api = api_client(metrics_story.tenant, roles.AUDITOR)
    body = api.get("/api/v1/metrics/mttr/", {"period": "2026-10"}).json()
    text = " ".join(pages)
    appendix = _squash(text[text.rindex("Appendix: figures in seconds") :])
    for row in body["figures"]["rows"]:

        def fixed(value):
            return "-" if value is None else f"{float(value):.6f}"

        expected = (
            f"{row['phase']}/{row['clock']} n={row['count']} mean={fixed(row['mean_seconds'])} "
            f"median={fixed(row['median_seconds'])} p90={fixed(row['p90_seconds'])} "
            f"min={fixed(row['min_seconds'])} max={fixed(row['max_seconds'])} "
            f"compliance={fixed(row['compliance_pct'])} breaches={row['breaches']} "
            f"excluded={row['excluded']} open={row['open_breaches']}"
        )
        assert expected in appendix, expected
    # The executive summary is the API's, word for word.
    assert _squash(body["summary"]) in _squash(text)
    # And the report row keeps the figures it printed.
    assert report.figures["figures"]["rows"] == body["figures"]["rows"]


def _check_lists_and_methodology(metrics_story, pages):
    toc = _toc(pages)
    breaches = _squash(
        " ".join(pages[toc["SLA compliance and breaches"] - 1 : toc["Regulatory deadlines"] - 1])
    )
    assert "Every breach of the period (7)" in breaches
    positions = [
        breaches.index(metrics_story.number(letter) + " ") for letter, *_ in EXPECTED_BREACHES[:1]
    ]
    assert positions and "malware persisted via a second run key" in breaches
    findings = _squash(pages[toc["Data-quality findings"] - 1])
    assert metrics_story.number("F") in findings and "milestone missing" in findings
    assert metrics_story.number("I") in findings and "milestone before detection" in findings
    methodology = _squash(
        " ".join(pages[toc["Methodology"] - 1 : toc["Appendix: figures in seconds"] - 1])
    )
    from metrics.clocks import methodology_text

    for paragraph in methodology_text():
        assert _squash(paragraph)[:80] in methodology
    assert "night shift staffing" in methodology  # the target change, with its reason
    at_risk = _squash(pages[toc["Open cases at risk"] - 1])
    assert at_risk.count(metrics_story.number("G")) == 3


def _check_structure(report, path, reader, pages):
    total = len(reader.pages)
    assert report.pages == total and total >= 10
    toc = _toc(pages)
    for title, number in toc.items():
        assert _squash(pages[number - 1]).find(title.split(":")[0]) >= 0, (title, number)
    assert f"Page 3 of {total}" in pages[2] and "Alpha Corp" in pages[2]
    assert "Page 1 of" not in pages[0]  # the cover has no running footer
    outline = [item.title for item in reader.outline if not isinstance(item, list)]
    assert "Executive summary" in outline and "Methodology" in outline
    xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()
    assert re.search(r"pdfaid:part[^0-9]{0,3}3", xmp) and "pdfaid:conformance" in xmp
    assert reader.metadata.title.startswith("SLA and compliance report, October 2026")
    width, height = (float(v) for v in reader.pages[0].mediabox.upper_right)
    assert (round(width), round(height)) == (595, 842)  # A4 in points
    attachments = reader.attachments
    assert set(attachments) == {"breaches.csv", "findings.csv", "at_risk.csv"}
    breaches_csv = attachments["breaches.csv"][0].decode()
    assert len(breaches_csv.splitlines()) == 1 + len(EXPECTED_BREACHES)
    text = _squash(" ".join(pages))
    assert str(report.uid) in text and "2026-11.2" in text


def test_letter_paper(metrics_story):
    with tenant_context(metrics_story.tenant):
        report = services.report_request(
            period=parse_period({"period": "2026-10"}, "UTC"), paper="letter"
        )
        report = services.report_generate(report_id=report.pk)
    reader = PdfReader(Path(settings.MEDIA_ROOT) / report.file_path)
    width, height = (float(v) for v in reader.pages[0].mediabox.upper_right)
    assert (round(width), round(height)) == (612, 792)


def test_monthly_schedule_makes_one_report_per_month(metrics_story, tenant_b):
    now = dt.datetime(2026, 11, 2, 3, 0, tzinfo=dt.UTC)
    with tenant_context(metrics_story.tenant):
        first = services.report_schedule_monthly(now=now)
        again = services.report_schedule_monthly(now=now)
        assert first is not None and again is None
        assert first.kind == "scheduled" and first.period_label == "October 2026"
        assert Report.objects.count() == 1


def test_monthly_schedule_respects_the_tenant_zone(tenant_a):
    """At 02:00 UTC on 1 November it is still October in Los Angeles."""
    tenant_a.timezone = "America/Los_Angeles"
    tenant_a.save()
    with tenant_context(tenant_a):
        report = services.report_schedule_monthly(now=dt.datetime(2026, 11, 1, 2, 0, tzinfo=dt.UTC))
    assert report.period_label == "September 2026"


def test_beat_fans_out_to_every_tenant(tenant_a, tenant_b, django_capture_on_commit_callbacks):
    from config.celery import app
    from metrics.tasks import monthly_reports_all

    assert "metrics.monthly_reports_all" in app.conf.beat_schedule
    assert monthly_reports_all.apply().get() == 2
    for tenant in (tenant_a, tenant_b):
        with tenant_context(tenant):
            assert Report.objects.filter(kind="scheduled").count() == 1
