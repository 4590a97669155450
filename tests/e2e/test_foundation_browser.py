"""Sign in, land on the tenant dashboard, switch tenant, sign out — in real chromium."""

import pytest

from tenancy import roles

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_sign_in_switch_tenant_sign_out(page, sign_in, tenant_a, tenant_b, member, tmp_path):
    user = member(tenant_a, roles.ADMIN, "dana")
    member(tenant_b, roles.ANALYST, "dana")
    assert user.username == "dana"

    sign_in(page, "dana")
    page.wait_for_url("**/t/alpha/")
    assert page.locator("h1").inner_text() == "Alpha Corp"
    assert page.locator(".role-badge").inner_text().lower() == "admin"

    page.click("[data-testid=tenant-switcher] summary")
    page.click("text=Bravo Ltd")
    page.wait_for_url("**/t/bravo/")
    assert page.locator("h1").inner_text() == "Bravo Ltd"
    assert page.locator(".role-badge").inner_text().lower() == "analyst"

    page.keyboard.press("?")
    assert page.locator("dialog#help").is_visible()
    page.keyboard.press("Escape")

    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 5_000

    page.click("[data-testid=logout]")
    page.wait_for_url("**/accounts/login/**")
    page.goto("/t/bravo/")
    assert "/accounts/login/" in page.url
    assert page.console_errors == []  # nothing blocked by the CSP, no script errors


def test_wrong_password_shows_an_error(page, sign_in, tenant_a, member):
    member(tenant_a, roles.ANALYST, "eve")
    sign_in(page, "eve", "not the password")
    assert page.locator("[role=alert]").is_visible()
    assert "/accounts/login/" in page.url
