"""Stacking: distinct endpoints per item, rarest first, filtered by OS / group / tag."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from endpoints.processing import process_batch
from endpoints.selectors import endpoints_matching, stack, stack_endpoints
from endpoints.services import endpoint_heartbeat, telemetry_ingest
from tenancy import roles
from tenancy.context import tenant_context
from tests.utils import assert_constant_queries

pytestmark = pytest.mark.django_db


def ingest_inventory(tenant, endpoint, names, *, kind="autorun", sha256=None):
    """Report autoruns (or drivers / processes) called `names` on `endpoint`, processed."""
    when = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    rows = []
    for name in names:
        row = {"kind": kind, "event_id": f"inv-{uuid.uuid4()}", "observed_at": when}
        if kind == "process":
            row.update(process_name=f"{name}.exe", process_path=rf"c:\apps\{name}.exe", pid=8)
        else:
            row.update(item_name=name, target_path=rf"c:\apps\{name}.exe")
        if kind == "autorun":
            row["autorun_type"] = "service"
        if sha256:
            row["sha256"] = sha256
        rows.append(row)
    with tenant_context(tenant):
        outcome = telemetry_ingest(endpoint=endpoint, records=rows, enqueue=False)
        process_batch(batch_id=outcome.batch_id)


@pytest.fixture
def fleet(tenant_a, enrol_agent):
    """Four Windows workstations (two in Finance), a Linux server; items spread over them."""
    hosts = {}
    for i in range(4):
        groups = ["Finance"] if i < 2 else ["Sales"]
        hosts[f"ws-{i}"] = enrol_agent(
            tenant_a,
            hostname=f"ws-{i}",
            user_groups=groups,
            tags=[f"site:{'hq' if i % 2 else 'lon'}"],
        ).endpoint
    hosts["lnx-1"] = enrol_agent(
        tenant_a, hostname="lnx-1", os_family="linux", user_groups=["Servers"]
    ).endpoint
    for endpoint in hosts.values():
        ingest_inventory(tenant_a, endpoint, ["everywhere"])
    for name in ("ws-0", "ws-1", "ws-2"):
        ingest_inventory(tenant_a, hosts[name], ["office_updater"])
    ingest_inventory(tenant_a, hosts["ws-1"], ["teamviewer_service"], sha256="aa" * 32)
    ingest_inventory(tenant_a, hosts["lnx-1"], ["rare_daemon"])
    ingest_inventory(tenant_a, hosts["ws-3"], ["mimidrv"], kind="driver")
    ingest_inventory(tenant_a, hosts["ws-3"], ["svchost32"], kind="process")
    return hosts


def _names(page):
    """(name, endpoints) rarest first; ties (ordered by item key) sorted by name here."""
    rows = [(row["name"], row["endpoints"]) for row in page.rows]
    assert [n for _, n in rows] == sorted(n for _, n in rows)
    return sorted(rows, key=lambda r: (r[1], r[0]))


def test_items_are_counted_by_distinct_endpoint_rarest_first(tenant_a, fleet):
    # the same item reported again (new event ids) still counts once per endpoint
    ingest_inventory(tenant_a, fleet["ws-0"], ["office_updater", "everywhere"])
    with tenant_context(tenant_a):
        page = stack(category="autorun")
    assert _names(page) == [
        ("rare_daemon", 1),
        ("teamviewer_service", 1),
        ("office_updater", 3),
        ("everywhere", 5),
    ]
    teamviewer = next(r for r in page.rows if r["name"] == "teamviewer_service")
    assert teamviewer["sha256"] == "aa" * 32 and teamviewer["item_type"] == "service"


def test_stacks_filter_by_os_group_and_tag(tenant_a, fleet):
    with tenant_context(tenant_a):
        assert _names(stack(category="autorun", os_family="linux")) == [
            ("everywhere", 1),
            ("rare_daemon", 1),
        ]
        assert _names(stack(category="autorun", groups=["Finance"])) == [
            ("teamviewer_service", 1),
            ("everywhere", 2),
            ("office_updater", 2),
        ]
        assert ("office_updater", 1) in _names(stack(category="autorun", tags=["site:hq"]))
        assert _names(stack(category="autorun", max_endpoints=1)) == [
            ("rare_daemon", 1),
            ("teamviewer_service", 1),
        ]
        assert _names(stack(category="driver")) == [("mimidrv", 1)]
        assert _names(stack(category="process")) == [("svchost32.exe", 1)]


def test_drill_down_lists_the_endpoints_with_an_item(tenant_a, fleet):
    with tenant_context(tenant_a):
        row = next(r for r in stack(category="autorun").rows if r["name"] == "office_updater")
        assert sorted(e["hostname"] for e in stack_endpoints(key=row["key"])) == [
            "ws-0",
            "ws-1",
            "ws-2",
        ]
        assert [e["hostname"] for e in stack_endpoints(key=row["key"], groups=["Sales"])] == [
            "ws-2"
        ]


def test_endpoints_matching_is_what_sweeps_target(tenant_a, fleet):
    with tenant_context(tenant_a):
        endpoint_heartbeat(endpoint=fleet["lnx-1"], facts={"privileged_admin_logons": True})

        def hosts(**kwargs):
            return sorted(endpoints_matching(**kwargs).values_list("hostname", flat=True))

        assert hosts(os_family="linux") == ["lnx-1"]
        assert hosts(groups=["Finance", "Servers"]) == ["lnx-1", "ws-0", "ws-1"]
        assert hosts(tags=["site:hq"], groups=["Finance"]) == ["ws-1"]
        assert hosts(privileged=True) == ["lnx-1"]
        assert len(hosts()) == 5


def test_another_tenants_items_never_stack_here(
    tenant_a, tenant_b, fleet, enrol_agent, web_client, api_client
):
    other = enrol_agent(tenant_b, hostname="bravo-1").endpoint
    ingest_inventory(tenant_b, other, ["bravo_only", "everywhere"])
    with tenant_context(tenant_b):
        bravo_key = stack(category="autorun").rows[0]["key"]
    with tenant_context(tenant_a):
        names = dict(_names(stack(category="autorun")))
        assert "bravo_only" not in names and names["everywhere"] == 5
        assert stack_endpoints(key=bravo_key) == []
    browser = web_client(tenant_a, roles.ADMIN)
    response = browser.get(browser.url("endpoints/stacking/endpoints/"), {"key": bravo_key})
    assert response.status_code == 404
    api = api_client(tenant_a, roles.ANALYST)
    drill = api.get("/api/v1/stacking/endpoints/", {"key": bravo_key})
    assert drill.status_code == 200 and drill.json()["results"] == []


def test_the_api_stacks_pages_and_drills_down(tenant_a, fleet, api_client):
    client = api_client(tenant_a, roles.ANALYST)
    first = client.get("/api/v1/stacking/", {"category": "autorun", "limit": 2}).json()
    assert sorted(r["name"] for r in first["results"]) == ["rare_daemon", "teamviewer_service"]
    assert first["previous"] is None and "offset=2" in first["next"]
    second = client.get(first["next"]).json()
    assert [r["name"] for r in second["results"]] == ["office_updater", "everywhere"]
    assert second["next"] is None
    key = second["results"][0]["key"]
    drill = client.get("/api/v1/stacking/endpoints/", {"key": key, "group": "Finance"}).json()
    assert sorted(e["hostname"] for e in drill["results"]) == ["ws-0", "ws-1"]
    bad = client.get("/api/v1/stacking/", {"category": "everything"})
    assert bad.status_code == 400 and "category" in bad.json()["error"]["fields"]
    assert client.get("/api/v1/stacking/endpoints/").status_code == 400


def test_the_stacking_api_answers_in_constant_queries(tenant_a, enrol_agent, api_client):
    client = api_client(tenant_a, roles.ANALYST)
    endpoint = enrol_agent(tenant_a).endpoint
    counter = iter(range(10_000))

    def add(n):
        ingest_inventory(tenant_a, endpoint, [f"item-{next(counter)}" for _ in range(n)])

    client.get("/api/v1/stacking/")  # the token's first use records itself once
    assert_constant_queries(add, lambda: client.get("/api/v1/stacking/"))
