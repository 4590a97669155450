"""The tenant-scoped manager and queryset every tenant-owned model uses.

`Model.objects` filters by the tenant in context. With no tenant in context it raises
(fail closed) — except inside `unscoped()`, the explicit door.

A queryset created outside any context (a DRF `queryset = Case.objects.all()` class
attribute, a FilterSet's choice queryset, a form field) is *deferred*: it binds to the
tenant in context when it is evaluated, and raises if there is none then. So related
look-ups declared at import time draw from the current tenant's rows at request time, and
a template queryset never keeps one tenant's results for another.

`Subquery(qs)` and `Exists(qs)` read `qs.query` directly; build them inside a tenant
context (where querysets are filtered eagerly), never at import time.
"""

from __future__ import annotations

from django.db import models

from .context import TenantContextMissing, TenantMismatch, bypass_reason, current_tenant_id


class TenantQuerySet(models.QuerySet):
    _tenant_deferred = False
    _bound_tenant_id: int | None = None

    def _clone(self):
        clone = super()._clone()
        clone._tenant_deferred = self._tenant_deferred
        return clone

    def _bind(self) -> TenantQuerySet:
        """A clone filtered by the tenant in context now; raise if there is none."""
        clone = super()._clone()
        clone._tenant_deferred = False
        tenant_id = current_tenant_id()
        if tenant_id is not None:
            clone.query.add_q(models.Q(tenant_id=tenant_id))
        elif bypass_reason() is None:
            raise TenantContextMissing(f"{self.model.__name__} queried with no tenant in context")
        return clone

    # -- every way a queryset reaches the database goes through a bound clone --------------
    def _fetch_all(self):
        if not self._tenant_deferred:
            return super()._fetch_all()
        if self._result_cache is not None and self._bound_tenant_id == current_tenant_id():
            return None
        bound = self._bind()
        bound._fetch_all()
        self._result_cache = bound._result_cache
        self._prefetch_done = True
        self._bound_tenant_id = current_tenant_id()
        return None

    def _deferred_call(name):
        def method(self, *args, **kwargs):
            target = self._bind() if self._tenant_deferred else self
            return getattr(super(TenantQuerySet, target), name)(*args, **kwargs)

        method.__name__ = name
        return method

    _iterator = _deferred_call("_iterator")
    count = _deferred_call("count")
    exists = _deferred_call("exists")
    aggregate = _deferred_call("aggregate")
    update = _deferred_call("update")
    _update = _deferred_call("_update")
    delete = _deferred_call("delete")
    _raw_delete = _deferred_call("_raw_delete")
    explain = _deferred_call("explain")
    resolve_expression = _deferred_call("resolve_expression")
    del _deferred_call

    def _combinator_query(self, combinator, *other_qs, all=False):
        # union()/intersection() read the other querysets' SQL directly: bind them first.
        me = self._bind() if self._tenant_deferred else self
        others = [qs._bind() if getattr(qs, "_tenant_deferred", False) else qs for qs in other_qs]
        return super(TenantQuerySet, me)._combinator_query(combinator, *others, all=all)

    def bulk_create(self, objs, *args, **kwargs):
        objs = list(objs)
        for obj in objs:
            obj.assign_tenant()
        return super().bulk_create(objs, *args, **kwargs)


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):
    """Scopes every query to the tenant in context."""

    def get_queryset(self) -> TenantQuerySet:
        queryset = super().get_queryset()
        tenant_id = current_tenant_id()
        if tenant_id is not None:
            return queryset.filter(tenant_id=tenant_id)
        if bypass_reason() is not None:
            return queryset
        queryset._tenant_deferred = True
        return queryset


def check_tenant_for_write(obj: models.Model) -> None:
    """Refuse to write a row of another tenant than the one in context."""
    tenant_id = current_tenant_id()
    if tenant_id is None:
        if bypass_reason() is None:
            raise TenantContextMissing(f"{type(obj).__name__} written with no tenant in context")
        if obj.tenant_id is None:
            raise TenantContextMissing(f"{type(obj).__name__} has no tenant")
        return
    if obj.tenant_id is None:
        obj.tenant_id = tenant_id
    elif obj.tenant_id != tenant_id:
        raise TenantMismatch(
            f"{type(obj).__name__} of tenant {obj.tenant_id} written in tenant {tenant_id}"
        )
