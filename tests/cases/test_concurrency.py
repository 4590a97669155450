"""Races, with real concurrent transactions on PostgreSQL: the ETag check, case numbers,
and ingestion of the same external id from two workers."""

import threading

import pytest
from django.db import connection, connections

from cases.models import Alert, Case
from cases.services import alert_ingest, case_create, case_update
from tenancy import roles
from tenancy.context import tenant_context
from tenancy.errors import PreconditionFailed
from tests.cases.factories import alert_input, make_case

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only(is_postgres):
    if not is_postgres:
        pytest.skip("needs concurrent transactions (SQLite serialises writers)")


def run_together(*jobs):
    """Start every job at the same instant on its own connection; return results/errors."""
    barrier = threading.Barrier(len(jobs))
    results: list = [None] * len(jobs)

    def worker(index, job):
        try:
            barrier.wait()
            results[index] = job()
        except Exception as exc:  # the assertion looks at what happened
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, job)) for i, job in enumerate(jobs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def test_two_updates_with_the_same_etag_one_wins_one_gets_412(tenant_a, api_client):
    with tenant_context(tenant_a):
        case = make_case(title="original")
    clients = [api_client(tenant_a, roles.ANALYST, f"analyst{i}") for i in (1, 2)]
    etag = clients[0].get(f"/api/v1/cases/{case.pk}/")["ETag"]

    def patch(client, title):
        return lambda: (
            client.patch(
                f"/api/v1/cases/{case.pk}/", {"title": title}, format="json", HTTP_IF_MATCH=etag
            ).status_code
        )

    codes = run_together(patch(clients[0], "first"), patch(clients[1], "second"))
    assert sorted(codes) == [200, 412], codes
    winner = "first" if codes[0] == 200 else "second"
    with tenant_context(tenant_a):
        fresh = Case.objects.get(pk=case.pk)
    assert (fresh.title, fresh.version) == (winner, 2)


def test_the_service_version_check_is_race_free(tenant_a):
    with tenant_context(tenant_a):
        case = make_case()

    def update(title):
        def job():
            with tenant_context(tenant_a):
                return case_update(case=case, title=title, expected_version=1).title

        return job

    results = run_together(*(update(f"t{i}") for i in range(4)))
    assert sum(isinstance(r, str) for r in results) == 1
    assert sum(isinstance(r, PreconditionFailed) for r in results) == 3


def test_case_numbers_are_race_free(tenant_a):
    def create(i):
        def job():
            with tenant_context(tenant_a):
                return case_create(title=f"c{i}", severity="low", phase="initial_infection").number

        return job

    numbers = run_together(*(create(i) for i in range(6)))
    assert all(isinstance(n, str) for n in numbers), numbers
    assert len(set(numbers)) == 6
    assert sorted(int(n.rsplit("-", 1)[1]) for n in numbers) == [1, 2, 3, 4, 5, 6]


def test_the_same_alert_from_two_workers_is_created_once(tenant_a):
    def ingest():
        with tenant_context(tenant_a):
            batch = [
                alert_input(external_id="dup-1", dedup_key="k"),
                alert_input(external_id="dup-2", dedup_key="k"),
            ]
            return alert_ingest(alerts=batch).created

    results = run_together(ingest, ingest, ingest)
    assert all(isinstance(r, int) for r in results), results
    with tenant_context(tenant_a):
        alert = Alert.objects.get()
    assert alert.count == 2 and sum(results) == 1
    connection.close()
