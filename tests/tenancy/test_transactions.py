"""Deadlock victims are run again: a unit test of the rule, and a real deadlock between two
transactions on PostgreSQL that both end up committed."""

from __future__ import annotations

import threading

import pytest
from django.db import OperationalError, transaction

from tenancy.transactions import retrying


class _Cause(Exception):
    def __init__(self, sqlstate: str):
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def _failing(times: int, sqlstate: str = "40P01"):
    calls = []

    def function():
        calls.append(1)
        if len(calls) <= times:
            raise OperationalError("refused") from _Cause(sqlstate)
        return "done"

    return function, calls


def test_a_deadlock_victim_runs_again():
    function, calls = _failing(2)
    assert retrying(function) == "done"
    assert len(calls) == 3


def test_other_errors_and_exhausted_attempts_go_up():
    function, calls = _failing(1, sqlstate="08006")  # connection failure: not retried here
    with pytest.raises(OperationalError):
        retrying(function)
    assert len(calls) == 1
    function, calls = _failing(5)
    with pytest.raises(OperationalError):
        retrying(function, attempts=3)
    assert len(calls) == 3


@pytest.mark.django_db
def test_never_inside_a_callers_transaction():
    function, calls = _failing(1)
    with pytest.raises(OperationalError), transaction.atomic():
        retrying(function)
    assert len(calls) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_transactions_that_deadlock_both_commit(is_postgres, tenant_a):
    if not is_postgres:
        pytest.skip("needs concurrent transactions (SQLite serialises writers)")
    from cases.models import Case
    from tenancy.context import tenant_context
    from tests.cases.factories import make_case
    from tests.cases.test_concurrency import run_together

    with tenant_context(tenant_a):
        first, second = make_case(title="one").pk, make_case(title="two").pk
    barrier = threading.Barrier(2)
    tries: dict[str, list] = {}

    def lock_in_order(a: int, b: int, title: str):
        attempts = tries.setdefault(title, [])

        def transaction_body():
            attempts.append(1)
            with transaction.atomic():
                Case.objects.select_for_update().get(pk=a)
                if len(attempts) == 1:
                    barrier.wait(timeout=5)  # both hold their first row: a deadlock follows
                Case.objects.filter(pk=b).update(title=title)
            return title

        def job():
            with tenant_context(tenant_a):
                return retrying(transaction_body)

        return job

    results = run_together(lock_in_order(first, second, "x"), lock_in_order(second, first, "y"))
    assert sorted(results) == ["x", "y"], results
    # PostgreSQL aborted one of them as the deadlock victim; it ran again and committed.
    assert sorted(len(t) for t in tries.values()) == [1, 2]
