"""The metrics dashboard in real chromium: breaches in progress on top, the period changed
with the htmx controls, and the PDF report downloaded by an auditor (CSP intact)."""

import hashlib

import pytest

from metrics import services
from metrics.periods import parse_period
from tenancy import roles
from tenancy.context import tenant_context

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_auditor_changes_the_period_and_downloads_the_pdf(
    page, sign_in, metrics_story, member, tmp_path
):
    member(metrics_story.tenant, roles.AUDITOR, "ada")
    with tenant_context(metrics_story.tenant):
        report = services.report_request(period=parse_period({"period": "2026-10"}, "UTC"))
        report = services.report_generate(report_id=report.pk)
    assert report.status == "succeeded"

    sign_in(page, "ada")
    page.goto("/t/alpha/metrics/")
    breaches = page.locator("[data-testid=breaches-in-progress]")
    assert metrics_story.number("G") in breaches.inner_text()
    # Breaches in progress come before the figures.
    assert page.locator("main section").first.get_attribute("data-testid") == (
        "breaches-in-progress"
    )

    page.fill("[data-testid=from]", "2026-10-01")
    page.fill("[data-testid=to]", "2026-10-31")
    with page.expect_response(lambda r: "/metrics/?" in r.url and r.status == 200):
        page.click("[data-testid=metrics-controls] button[type=submit]")
    period = page.locator("[data-testid=metrics-period] h2")
    period.filter(has_text="1 Oct 2026 to 31 Oct 2026").wait_for()
    assert "from=2026-10-01" in page.url  # htmx pushed the query into the address bar
    tile = page.locator("[data-testid=kpi-initial_infection-remediate]")
    assert "n=6" in tile.inner_text()
    assert page.locator("[data-testid=chart-trend] svg").count() == 1
    assert "generate-report" not in page.content()  # auditors do not create reports

    page.goto("/t/alpha/metrics/reports/")
    page.click('[data-testid=reports] a:has-text("October 2026")')
    sha = page.locator("[data-testid=sha256]").inner_text().strip()
    assert sha == report.sha256
    with page.expect_download() as info:
        page.click("[data-testid=download]")
    target = tmp_path / "report.pdf"
    info.value.save_as(target)
    content = target.read_bytes()
    assert content.startswith(b"%PDF") and hashlib.sha256(content).hexdigest() == sha

    shot = tmp_path / "metrics.png"
    page.goto("/t/alpha/metrics/?period=2026-10")
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000

    assert page.console_errors == []  # nothing blocked by the CSP, no script errors
