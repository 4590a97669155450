"""Real chromium: triage an alert into a case from the keyboard, work the case to closed,
watch the clocks tick and the timeline fill; dismiss with a reason from the keyboard."""

import datetime as dt
import re

import pytest
from django.utils import timezone

from cases.models import Alert, Case
from cases.services import alert_ingest
from tenancy import roles
from tenancy.context import tenant_context
from tests.cases.factories import alert_input

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _clock_seconds(text: str) -> int:
    parts = [int(p) for p in re.findall(r"\d+", text)]
    days = parts[0] if "d" in text else 0
    h, m, s = parts[-3:]
    return days * 86400 + h * 3600 + m * 60 + s


def test_triage_an_alert_and_work_the_case_to_closed(page, sign_in, tenant_a, member):
    member(tenant_a, roles.ANALYST, "dana")
    with tenant_context(tenant_a):
        alert_ingest(
            alerts=[
                alert_input(
                    title="Office macro spawned PowerShell on ws-042",
                    severity="medium",
                    observed_at=timezone.now() - dt.timedelta(minutes=7),
                )
            ]
        )
    page.on("dialog", lambda dialog: dialog.accept())
    sign_in(page, "dana")
    page.wait_for_url("**/t/alpha/")

    # the queue, from the keyboard: g a, j to select the row, p to promote
    page.keyboard.press("g")
    page.keyboard.press("a")
    page.wait_for_url("**/alerts/")
    page.keyboard.press("j")
    assert page.locator("[data-list] tr[aria-selected=true]").count() == 1
    page.keyboard.press("p")
    page.wait_for_url(re.compile(r".*/cases/\d+/$"))
    assert page.locator("[data-testid=case-status]").inner_text() == "Triage"

    # clocks: detection counts up live; triage was met when the analyst promoted
    since = page.locator("[data-testid=clock-detection] .value")
    first = _clock_seconds(since.inner_text())
    assert first >= 7 * 60
    page.wait_for_timeout(2200)
    assert _clock_seconds(since.inner_text()) >= first + 2
    assert "met" in page.locator("[data-testid=clock-triage]").get_attribute("class")
    assert "running" in page.locator("[data-testid=clock-contain]").get_attribute("class")

    # a Markdown note, rendered safely
    page.keyboard.press("n")
    page.locator("[data-note-box]").fill("Isolated **ws-042**; <script>alert(1)</script>")
    page.click("[data-testid=note-form] button[type=submit]")
    assert page.locator("#notes strong", has_text="ws-042").is_visible()

    # the workflow to closure
    page.click("[data-testid=scope-done]")
    assert "met" in page.locator("[data-testid=clock-scope]").get_attribute("class")
    page.click("[data-testid=transition-contained]")
    assert page.locator("[data-testid=case-status]").inner_text() == "Contained"
    page.click("[data-testid=transition-remediated]")  # confirms open remediation tasks
    assert page.locator("[data-testid=case-status]").inner_text() == "Remediated"
    page.select_option("select[name=resolution]", "true_positive")
    page.click("[data-testid=transition-closed]")
    assert page.locator("[data-testid=case-status]").inner_text() == "Closed"
    for milestone in ("triaged_at", "scoped_at", "contained_at", "remediated_at", "closed_at"):
        assert page.locator(f"[data-testid=m-{milestone}]").inner_text() != "—", milestone
    for clock in ("triage", "scope", "contain", "remediate"):
        assert page.locator(f"[data-testid=clock-{clock}]").get_attribute("data-state") == "met"
    timeline = page.locator("[data-testid=timeline]").inner_text()
    for line in (
        "Case opened",
        "alert",
        "Scoping done",
        "Status contained → remediated",
        "Status remediated → closed (true_positive)",
        "Note: Isolated",
    ):
        assert line in timeline, line
    # a closed case's clocks no longer tick
    frozen = since.inner_text()
    page.wait_for_timeout(1200)
    assert since.inner_text() == frozen
    assert page.console_errors == []
    with tenant_context(tenant_a):
        case = Case.objects.get()
        assert (case.status, case.resolution) == ("closed", "true_positive")


def test_dismiss_with_a_reason_from_the_keyboard(page, sign_in, tenant_a, member):
    member(tenant_a, roles.ANALYST, "eli")
    with tenant_context(tenant_a):
        alert_ingest(alerts=[alert_input(title="Rare autorun", severity="low")])
    sign_in(page, "eli")
    page.goto("/t/alpha/alerts/")
    page.keyboard.press("j")
    page.keyboard.press("d")
    dialog = page.locator("[data-testid=dismiss-dialog]")
    assert dialog.is_visible()
    page.keyboard.press("2")  # benign
    page.keyboard.press("Enter")
    page.wait_for_url("**/alerts/**")
    assert "Queue clear" in page.locator("[data-testid=alert-queue]").inner_text()
    with tenant_context(tenant_a):
        assert Alert.objects.get().dismiss_reason == "benign"
    assert page.console_errors == []
