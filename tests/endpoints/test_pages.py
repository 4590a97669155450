"""Browser pages: inventory, detail, timeline, observation, process tree, stacking, rules,
enrolment — rendering, filters, roles, and constant query counts."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from endpoints.models import DetectionRule, Endpoint, RuleException
from endpoints.services import enrolment_secret_reveal, rule_upload
from tenancy import roles
from tenancy.context import tenant_context
from tests.endpoints.factories import (
    EndpointFactory,
    ObservationFactory,
    add_observations,
    rule_yaml,
)
from tests.utils import assert_constant_queries

pytestmark = pytest.mark.django_db


@pytest.fixture
def analyst(tenant_a, web_client):
    return web_client(tenant_a, roles.ANALYST)


def _fleet(tenant, n, **kwargs):
    from endpoints.services import endpoint_heartbeat

    made = []
    with tenant_context(tenant):
        for _ in range(n):
            endpoint = EndpointFactory(tenant=tenant, **kwargs)
            facts = {"user_groups": ["Finance"], "tags": ["site:hq", "criticality:high"]}
            made.append(endpoint_heartbeat(endpoint=endpoint, facts=facts))
    return made


def test_inventory_lists_filters_and_searches(tenant_a, analyst):
    (fin,) = _fleet(tenant_a, 1, hostname="ws-fin-0001", ip_addresses=["10.20.32.7"])
    with tenant_context(tenant_a):
        EndpointFactory(
            tenant=tenant_a,
            hostname="lnx-web-01",
            os_family="linux",
            last_seen_at=timezone.now() - dt.timedelta(hours=2),
        )
        EndpointFactory(tenant=tenant_a, hostname="ws-iso-1", isolation_state="isolated")
    page = analyst.get(analyst.url("endpoints/"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "ws-fin-0001" in html and "lnx-web-01" in html and 'data-href="' in html
    assert "Finance" in html and "site:hq" in html

    def hosts(**query):
        response = analyst.get(analyst.url("endpoints/"), query)
        return sorted(e.hostname for e in response.context["page"])

    assert hosts(os="linux") == ["lnx-web-01"]
    assert hosts(q="10.20.32") == ["ws-fin-0001"]
    assert hosts(q="FIN") == ["ws-fin-0001"]
    assert hosts(group="Finance") == ["ws-fin-0001"]
    assert hosts(tag="criticality:high") == ["ws-fin-0001"]
    assert hosts(online="0") == ["lnx-web-01"]
    assert hosts(isolated="1") == ["ws-iso-1"]
    assert fin.hostname in hosts(online="1")


def test_inventory_page_queries_do_not_grow_with_rows(tenant_a, analyst):
    assert_constant_queries(
        lambda n: _fleet(tenant_a, n), lambda: analyst.get(analyst.url("endpoints/"))
    )


def test_endpoint_detail_and_timeline(tenant_a, analyst):
    with tenant_context(tenant_a):
        obs = ObservationFactory(tenant=tenant_a, command_line="cmd.exe /c whoami /all")
        ObservationFactory(
            tenant=tenant_a,
            endpoint=obs.endpoint,
            batch=obs.batch,
            kind="dns",
            dns_query="officeupdate-cdn.example",
            action=None,
            pid=None,
            command_line=None,
        )
    detail = analyst.get(analyst.url(f"endpoints/{obs.endpoint.pk}/"))
    assert detail.status_code == 200
    assert "whoami /all" in detail.content.decode()
    url = analyst.url(f"endpoints/{obs.endpoint.pk}/timeline/")
    html = analyst.get(url).content.decode()
    assert "officeupdate-cdn.example" in html and "whoami /all" in html
    only_dns = analyst.get(url, {"kind": "dns"}).content.decode()
    assert "officeupdate-cdn.example" in only_dns and "whoami /all" not in only_dns
    text = analyst.get(url, {"text": "WHOAMI"}).content.decode()
    assert "whoami /all" in text and "officeupdate-cdn.example" not in text


def test_timeline_pages_through_older_observations(tenant_a, analyst):
    with tenant_context(tenant_a):
        first = ObservationFactory(tenant=tenant_a)
        start = timezone.now() - dt.timedelta(hours=1)
        for i in range(130):
            ObservationFactory(
                tenant=tenant_a,
                endpoint=first.endpoint,
                batch=first.batch,
                observed_at=start + dt.timedelta(seconds=i),
            )
    url = analyst.get(analyst.url(f"endpoints/{first.endpoint.pk}/timeline/"))
    page = url.context["page"]
    assert len(page.observations) == 100 and page.older
    older = analyst.get(
        url.context["older_url"]
        and analyst.url(f"endpoints/{first.endpoint.pk}/timeline/") + url.context["older_url"]
    )
    assert len(older.context["page"].observations) == 31
    seen = {o.pk for o in page.observations} | {o.pk for o in older.context["page"].observations}
    assert len(seen) == 131


def test_timeline_queries_do_not_grow_with_rows(tenant_a, analyst):
    with tenant_context(tenant_a):
        first = ObservationFactory(tenant=tenant_a)
    assert_constant_queries(
        lambda n: add_observations(tenant_a, first, n),
        lambda: analyst.get(analyst.url(f"endpoints/{first.endpoint.pk}/timeline/")),
    )


def test_observation_page_links_to_the_tree(tenant_a, analyst):
    with tenant_context(tenant_a):
        obs = ObservationFactory(tenant=tenant_a, sha256="ab" * 32)
    html = analyst.get(analyst.url(f"endpoints/observations/{obs.pk}/")).content.decode()
    assert "ab" * 32 in html
    assert f"/endpoints/observations/{obs.pk}/tree/" in html


def test_stacking_page_and_drill_down(tenant_a, analyst, enrol_agent):
    from tests.endpoints.test_stacking import ingest_inventory

    hosts = [enrol_agent(tenant_a, hostname=f"ws-{i}").endpoint for i in range(3)]
    for endpoint in hosts:
        ingest_inventory(tenant_a, endpoint, ["common"])
    ingest_inventory(tenant_a, hosts[0], ["rare"])
    response = analyst.get(analyst.url("endpoints/stacking/"), {"category": "autorun"})
    rows = response.context["page"].rows
    assert [(r["name"], r["endpoints"]) for r in rows] == [
        ("rare", 1),
        ("common", 3),
    ]  # rarest first
    from endpoints.views import _ioc_from_stacking

    assert response.context["can_add_ioc"] is (_ioc_from_stacking() is not None)
    drill = analyst.get(analyst.url("endpoints/stacking/endpoints/"), {"key": rows[0]["key"]})
    assert drill.status_code == 200
    assert [r["hostname"] for r in drill.context["rows"]] == ["ws-0"]
    assert (
        analyst.get(analyst.url("endpoints/stacking/endpoints/"), {"key": "nope"}).status_code
        == 404
    )


def test_stacking_page_queries_do_not_grow(tenant_a, analyst, enrol_agent):
    from tests.endpoints.test_stacking import ingest_inventory

    endpoint = enrol_agent(tenant_a).endpoint
    counter = iter(range(10_000))

    def add(n):
        ingest_inventory(tenant_a, endpoint, [f"item-{next(counter)}" for _ in range(n)])

    assert_constant_queries(add, lambda: analyst.get(analyst.url("endpoints/stacking/")))


def test_rules_page_lists_shipped_rules_and_uploads_one(tenant_a, analyst):
    page = analyst.get(analyst.url("endpoints/rules/"))
    assert page.status_code == 200
    assert "Office Application Spawned a Shell" in page.content.decode()
    refused = analyst.post(analyst.url("endpoints/rules/"), {"yaml": "title: x\n"})
    assert refused.status_code == 200
    assert "not a valid Sigma rule" in refused.content.decode()
    yaml = rule_yaml(title="Whoami On A Server")
    created = analyst.post(analyst.url("endpoints/rules/"), {"yaml": yaml})
    assert created.status_code == 302
    with tenant_context(tenant_a):
        rule = DetectionRule.objects.get(title="Whoami On A Server")
    assert rule.source == "uploaded"
    detail = analyst.get(analyst.url(f"endpoints/rules/{rule.pk}/"))
    assert "Whoami On A Server" in detail.content.decode()


def test_rules_page_queries_do_not_grow(tenant_a, analyst):
    def add(n):
        with tenant_context(tenant_a):
            for _ in range(n):
                rule_upload(yaml_text=rule_yaml())

    analyst.get(analyst.url("endpoints/rules/"))  # installs the shipped rules once
    assert_constant_queries(add, lambda: analyst.get(analyst.url("endpoints/rules/")))


def test_toggling_and_exceptions_in_the_browser(tenant_a, analyst):
    with tenant_context(tenant_a):
        rule = rule_upload(yaml_text=rule_yaml())
    assert analyst.post(analyst.url(f"endpoints/rules/{rule.pk}/toggle/")).status_code == 302
    with tenant_context(tenant_a):
        assert DetectionRule.objects.get(pk=rule.pk).enabled is False
    bad = analyst.post(
        analyst.url(f"endpoints/rules/{rule.pk}/"), {"field": "process_path", "value": "   "}
    )
    assert bad.status_code == 200
    ok = analyst.post(
        analyst.url(f"endpoints/rules/{rule.pk}/"),
        {"field": "process_path", "value": r"c:\tools\*", "reason": "admins"},
    )
    assert ok.status_code == 302
    with tenant_context(tenant_a):
        exception = RuleException.objects.get(rule=rule)
    url = analyst.url(f"endpoints/rules/exceptions/{exception.pk}/delete/")
    assert analyst.post(url).status_code == 302
    with tenant_context(tenant_a):
        assert not RuleException.objects.exists()


def test_auditors_read_rules_but_change_nothing(tenant_a, web_client):
    auditor = web_client(tenant_a, roles.AUDITOR)
    with tenant_context(tenant_a):
        rule = rule_upload(yaml_text=rule_yaml())
    assert auditor.get(auditor.url("endpoints/rules/")).status_code == 200
    assert auditor.post(auditor.url(f"endpoints/rules/{rule.pk}/toggle/")).status_code == 403
    assert auditor.post(auditor.url("endpoints/rules/"), {"yaml": rule_yaml()}).status_code == 404
    with tenant_context(tenant_a):
        assert DetectionRule.objects.get(pk=rule.pk).enabled is True


def test_enrolment_page_is_for_admins(tenant_a, web_client, analyst):
    assert analyst.get(analyst.url("endpoints/enrolment/")).status_code == 403
    admin = web_client(tenant_a, roles.ADMIN)
    assert admin.get(admin.url("endpoints/enrolment/")).status_code == 200
    shown = admin.post(admin.url("endpoints/enrolment/"), {"action": "reveal"}).content.decode()
    with tenant_context(tenant_a):
        secret = enrolment_secret_reveal()
    assert secret in shown
    rotated = admin.post(admin.url("endpoints/enrolment/"), {"action": "rotate"}).content.decode()
    assert secret not in rotated and "sce_" in rotated


def test_the_dashboard_panel_summarises_the_fleet(tenant_a, rf):
    from django.template.loader import render_to_string

    from endpoints.selectors import dashboard_panel

    _fleet(tenant_a, 2)
    with tenant_context(tenant_a):
        Endpoint.objects.filter(pk=Endpoint.objects.first().pk).update(isolation_state="isolated")
        panel = dashboard_panel(rf.get("/"))
    assert panel["fleet"]["total"] == 2 and panel["fleet"]["isolated"] == 1
    html = render_to_string(panel["template"], {"panel": panel, "tenant": tenant_a})
    assert 'data-testid="endpoints-panel"' in html and "2 online" in html


def test_pages_have_no_inline_script_or_style(tenant_a, analyst):
    with tenant_context(tenant_a):
        obs = ObservationFactory(tenant=tenant_a)
        Endpoint.objects.update(isolation_state="isolated")
    for path in (
        "endpoints/",
        f"endpoints/{obs.endpoint.pk}/",
        f"endpoints/{obs.endpoint.pk}/timeline/",
        f"endpoints/observations/{obs.pk}/",
        f"endpoints/observations/{obs.pk}/tree/",
        "endpoints/stacking/",
        "endpoints/rules/",
    ):
        html = analyst.get(analyst.url(path)).content.decode()
        assert " style=" not in html and "<style" not in html, path
        assert "<script>" not in html and "onclick=" not in html, path


def test_a_rare_hash_becomes_an_ioc_in_one_click(tenant_a, analyst, enrol_agent, web_client):
    from endpoints.views import _ioc_from_stacking
    from tests.endpoints.test_stacking import ingest_inventory

    if _ioc_from_stacking() is None:
        pytest.skip("intel.services.ioc_add_from_stacking is not there: the button is hidden")
    endpoint = enrol_agent(tenant_a).endpoint
    ingest_inventory(tenant_a, endpoint, ["dropper"], sha256="ef" * 32)
    page = analyst.get(analyst.url("endpoints/stacking/"))
    (row,) = page.context["page"].rows
    assert "Add hash as IOC" in page.content.decode()
    auditor = web_client(tenant_a, roles.AUDITOR)
    url = analyst.url("endpoints/stacking/ioc/")
    assert auditor.post(url, {"key": row["key"]}).status_code == 403
    assert analyst.post(url, {"key": row["key"]}).status_code == 302
    from django.apps import apps

    ioc_model = apps.get_model("intel", "IOC")
    with tenant_context(tenant_a):
        assert ioc_model.objects.filter(value="ef" * 32).exists()
    assert analyst.post(url, {"key": "no-such-key"}).status_code == 404
