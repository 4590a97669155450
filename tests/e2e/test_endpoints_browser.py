"""Endpoint list → detail → process tree, keyboard first, in real chromium (no CSP errors)."""

from __future__ import annotations

import datetime as dt

import pytest

from endpoints.services import telemetry_ingest
from tenancy import roles
from tenancy.context import tenant_context
from tests.endpoints.test_process_tree import STORY

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_list_detail_and_process_tree(page, sign_in, tenant_a, member, enrol_agent):
    member(tenant_a, roles.ANALYST, "nina")
    target = enrol_agent(
        tenant_a, hostname="ws-fin-0042", user_groups=["Finance"], ip_addresses=["10.10.32.42"]
    ).endpoint
    enrol_agent(tenant_a, hostname="lnx-web-01", os_family="linux")
    with tenant_context(tenant_a):
        now = dt.datetime.now(dt.UTC)
        records = [
            {
                **r,
                "observed_at": now
                - dt.timedelta(minutes=30)
                + (r["observed_at"] - STORY[0]["observed_at"]),
            }
            for r in STORY
        ]
        for r in records:
            r.pop("started_at", None)
        telemetry_ingest(endpoint=target, records=records, enqueue=False)

    sign_in(page, "nina")
    page.wait_for_url("**/t/alpha/")
    page.keyboard.press("g")
    page.keyboard.press("e")
    page.wait_for_url("**/t/alpha/endpoints/")
    assert page.locator("[data-testid=endpoint-list] tbody tr").count() == 2

    page.fill("input[name=q]", "10.10.32")
    page.keyboard.press("Enter")
    page.wait_for_url("**/endpoints/?q=10.10.32**")
    assert page.locator("[data-testid=endpoint-list] tbody tr").count() == 1

    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/endpoints/{target.pk}/")
    assert page.locator("[data-testid=endpoint-hostname]").inner_text() == "ws-fin-0042"
    assert page.locator("[data-testid=online]").inner_text() == "online"

    page.locator("[data-testid=recent-processes] tr", has_text="cmd.exe").locator(
        "[data-testid=tree-link]"
    ).click()
    page.wait_for_url("**/tree/")
    tree = page.locator("[data-testid=process-tree]")
    assert tree.locator("li.chosen > .pnode .pname").inner_text() == "cmd.exe"
    text = tree.inner_text()
    assert text.index("explorer.exe") < text.index("winword.exe") < text.index("powershell.exe")
    assert "whoami.exe" in text and "calc.exe" not in text

    page.goto(f"/t/alpha/endpoints/{target.pk}/")
    page.keyboard.press("t")
    page.wait_for_url("**/timeline/")
    assert page.locator("[data-testid=timeline] tbody tr").count() == len(STORY)
    assert page.console_errors == []
