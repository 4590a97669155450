"""In real chromium: an analyst launches a sweep with targeting and watches its progress bar
move (htmx polling) until it finishes, then reads the hits — nothing blocked by the CSP.

The chunk tasks are held back and run one by one, slowly, by a thread standing in for the
workers, so the page has something to watch.
"""

from __future__ import annotations

import threading
import time

import pytest

from intel.models import SweepChunk
from intel.services import sweeps as sweep_services
from intel.tasks import sweep_chunk_task
from tenancy import outbox, roles
from tenancy.context import tenant_context
from tests.intel.factories import make_endpoint, make_ioc, observe

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SHA = "3f79bb7b435b05321651daefd374cdc681dc06faa65e374e38337b88ca046dea"


def test_launch_a_sweep_and_watch_it_finish(page, sign_in, tenant_a, member, monkeypatch):
    member(tenant_a, roles.ANALYST, "ana")
    with tenant_context(tenant_a):
        for n in range(6):
            endpoint = make_endpoint(f"fin-{n:02d}", groups=["Finance"])
            observe(endpoint, [{"sha256": SHA if n % 2 else "0" * 64, "process_name": "a.exe"}])
        observe(make_endpoint("eng-01", groups=["Engineering"]), [{"sha256": SHA}])
        make_ioc("sha256", SHA, severity="medium")
        tenant_a.settings = {"intel": {"chunk_endpoints": 2}}
        tenant_a.save(update_fields=["settings"])

    held: list[int] = []
    publish = outbox.publish

    def hold_chunks(name, kwargs):
        if name == sweep_chunk_task.name:
            held.append(kwargs["chunk_id"])
        else:
            publish(name, kwargs)

    monkeypatch.setattr(outbox, "publish", hold_chunks)

    def workers():
        while len(held) < 3:  # six Finance endpoints, two per chunk
            time.sleep(0.05)
        with tenant_context(tenant_a):
            for chunk_id in held:
                time.sleep(0.8)
                sweep_services.sweep_run_chunk(chunk_id=chunk_id)

    sign_in(page, "ana")
    page.wait_for_url("**/t/alpha/")
    page.goto("/t/alpha/intel/iocs/")
    page.console_errors.clear()  # only our pages are judged here
    page.keyboard.press("g")
    page.keyboard.press("s")  # the Sweeps shortcut of the main menu
    page.wait_for_url("**/intel/sweeps/")
    page.click("[data-testid=new-sweep]")
    page.check("input[name=selection][value=all]")
    page.fill("input[name=groups]", "Finance")
    thread = threading.Thread(target=workers, daemon=True)
    thread.start()
    page.click("[data-testid=launch-sweep]")
    page.wait_for_url("**/intel/sweeps/*/")
    progress = page.locator("[data-testid=sweep-progress]")
    assert progress.get_attribute("data-status") in {"queued", "running"}
    seen = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        status = page.locator("[data-testid=sweep-progress]").get_attribute("data-status")
        seen.add(page.locator("[data-testid=sweep-percent]").inner_text())
        if status == "succeeded":
            break
        time.sleep(0.2)
    thread.join(5)
    assert status == "succeeded"
    assert len(seen) >= 3, seen  # the bar moved through intermediate values, live
    assert page.locator("[data-testid=sweep-hits]").inner_text() == "3"
    page.click("[data-testid=show-hits]")
    hits = page.locator("[data-testid=sweep-hit-table]")
    assert sorted(hits.locator("tbody tr td:nth-child(2)").all_inner_texts()) == [
        "fin-01",
        "fin-03",
        "fin-05",
    ]
    with tenant_context(tenant_a):
        assert set(SweepChunk.objects.values_list("status", flat=True)) == {"done"}
    assert page.console_errors == []
