"""TAXII 2.1 feeds against a real server (medallion on a loopback port): polling with the
added_after cursor and pagination, per-source health, and servers that fail."""

from __future__ import annotations

import datetime as dt

import pytest

from intel.models import IOC, ImportJob, Source
from intel.services import source_create, taxii_poll_create
from intel.tasks import import_run_task, taxii_dispatch
from tenancy.context import tenant_context
from tests.fixtures.intel import COLLECTION, TAXII_PASSWORD, TAXII_USER, indicator

pytestmark = pytest.mark.django_db

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"


def taxii_source(tenant, url, **fields):
    with tenant_context(tenant):
        return source_create(
            name=fields.pop("name", "medallion"),
            kind="taxii",
            url=url,
            collection_id=COLLECTION,
            username=TAXII_USER,
            password=TAXII_PASSWORD,
            **fields,
        )


def poll(tenant, source) -> ImportJob:
    """What the dispatcher's task does: a poll job, run (eagerly) with its retries."""
    with tenant_context(tenant):
        job = taxii_poll_create(source=source)
    # throw=False: apply() then runs the task's retries one after the other (no countdown)
    import_run_task.apply(kwargs={"tenant_id": tenant.pk, "job_id": job.pk}, throw=False)
    with tenant_context(tenant):
        job.refresh_from_db()
        source.refresh_from_db()
    return job


def test_collection_loads_into_iocs_with_unsupported_patterns_listed(
    tenant_a, medallion, allow_loopback
):
    allow_loopback(tenant_a)
    medallion.add(
        indicator(f"[file:hashes.'SHA-256' = '{SHA}']", confidence=80, labels=["apt-x"]),
        indicator("[domain-name:value = 'c2.badguys-example.net']"),
        indicator("[ipv4-addr:value = '198.51.100.7'] FOLLOWEDBY [domain-name:value = 'x.net']"),
        indicator("[process:pid = 4]"),
    )
    source = taxii_source(tenant_a, medallion.url)
    job = poll(tenant_a, source)

    assert job.status == "succeeded", job.error
    assert (job.added, job.skipped_count) == (2, 2)
    reasons = " ".join(s["reason"] for s in job.skipped)
    assert "FOLLOWEDBY" in reasons and "process:pid" in reasons
    with tenant_context(tenant_a):
        assert set(IOC.objects.values_list("type", "value")) == {
            ("sha256", SHA),
            ("domain", "c2.badguys-example.net"),
        }
        assert IOC.objects.get(type="sha256").confidence == 80
    assert source.health == "ok"
    assert source.cursor and source.objects_added_last == 2 and source.objects_added_total == 2


def test_cursor_fetches_only_what_was_added_since_and_pages_through(
    tenant_a, medallion, allow_loopback
):
    allow_loopback(tenant_a)
    first = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    medallion.add(
        *[indicator(f"[domain-name:value = 'old{i}.bad-example.net']") for i in range(7)],
        added=first,
    )
    source = taxii_source(tenant_a, medallion.url, page_size=3)
    assert poll(tenant_a, source).added == 7  # three pages of 3, 3 and 1
    medallion.add(
        indicator("[domain-name:value = 'new.bad-example.net']"), added=first + dt.timedelta(days=1)
    )

    job = poll(tenant_a, source)

    assert (job.status, job.total, job.added) == ("succeeded", 1, 1)
    with tenant_context(tenant_a):
        assert IOC.objects.count() == 8
    assert source.objects_added_total == 8


def test_server_error_on_page_two_is_a_recorded_feed_error_and_nothing_is_half_imported(
    tenant_a, medallion, allow_loopback
):
    allow_loopback(tenant_a)
    medallion.add(*[indicator(f"[domain-name:value = 'p{i}.bad-example.net']") for i in range(5)])
    medallion.broken["fail"] = "next-page"
    source = taxii_source(tenant_a, medallion.url, page_size=2)

    job = poll(tenant_a, source)

    assert job.status == "failed"
    assert "HTTP 500" in job.error and "attempts" in job.error
    with tenant_context(tenant_a):
        assert IOC.objects.count() == 0
    assert source.health == "failing" and source.cursor == ""
    assert "HTTP 500" in source.last_error and source.consecutive_failures == 1
    assert source.next_poll_at > source.last_error_at  # backs off, then tries again

    medallion.broken.clear()
    assert poll(tenant_a, source).added == 5  # poll() refreshes the source
    assert source.health == "ok" and source.consecutive_failures == 0


def test_server_that_times_out_is_a_recorded_feed_error(
    tenant_a, medallion, allow_loopback, monkeypatch
):
    monkeypatch.setattr(import_run_task, "max_retries", 1)  # two attempts of a second each
    allow_loopback(tenant_a)
    medallion.add(indicator("[domain-name:value = 'slow.bad-example.net']"))
    medallion.broken["hang"] = 1.5
    source = taxii_source(tenant_a, medallion.url, timeout_seconds=1)

    job = poll(tenant_a, source)

    assert job.status == "failed" and "timed out after 1 s" in job.error
    assert "after 2 attempts" in job.error
    assert source.health == "failing"
    with tenant_context(tenant_a):
        assert IOC.objects.count() == 0


def test_loopback_is_refused_unless_the_admin_allowlisted_it(tenant_a, medallion):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="non-public address"):
        taxii_source(tenant_a, medallion.url)


def test_wrong_credentials_fail_at_once_without_retrying(tenant_a, medallion, allow_loopback):
    allow_loopback(tenant_a)
    source = taxii_source(tenant_a, medallion.url)
    with tenant_context(tenant_a):
        Source.objects.filter(pk=source.pk).update(password="wrong")
        source.refresh_from_db()
    job = poll(tenant_a, source)
    assert job.status == "failed" and "HTTP 401" in job.error and job.attempts == 1


def test_dispatcher_polls_due_sources_of_every_tenant_once(
    tenant_a, tenant_b, medallion, allow_loopback, django_capture_on_commit_callbacks
):
    for tenant in (tenant_a, tenant_b):
        allow_loopback(tenant)
    medallion.add(indicator(f"[file:hashes.MD5 = '{'ab' * 16}']"))
    a = taxii_source(tenant_a, medallion.url)
    b = taxii_source(tenant_b, medallion.url)
    with tenant_context(tenant_b):
        Source.objects.filter(pk=b.pk).update(next_poll_at=dt.datetime(2099, 1, 1, tzinfo=dt.UTC))

    with django_capture_on_commit_callbacks(execute=True):  # the polls go through the outbox
        assert taxii_dispatch.apply().get() == 1
    assert taxii_dispatch.apply().get() == 0  # claimed: not polled twice

    with tenant_context(tenant_a):
        assert IOC.objects.count() == 1
        a.refresh_from_db()
        assert a.health == "ok"
    with tenant_context(tenant_b):
        assert IOC.objects.count() == 0
