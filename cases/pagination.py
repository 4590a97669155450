"""Pagination for long case lists: deep pages without reading every row before them.

`OFFSET 49950 LIMIT 50` makes PostgreSQL fetch and discard 49,950 full rows. The deferred
join asks for the page's ids first, in the list's order — an index-only scan over
(tenant, [status,] detected_at, id) — and then loads just those rows, in one query:

    WHERE ... AND id IN (SELECT id ... ORDER BY ... LIMIT 50 OFFSET 49950) ORDER BY ...
"""

from __future__ import annotations

from django.core.paginator import Paginator

from tenancy.api.pagination import PagePagination


class DeferredJoinPaginator(Paginator):
    def page(self, number):
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        top = bottom + self.per_page
        if top + self.orphans >= self.count:
            top = self.count
        queryset = self.object_list
        ordering = queryset.query.order_by or queryset.model._meta.ordering
        ids = queryset.order_by(*ordering).values("pk")[bottom:top]
        rows = queryset.filter(pk__in=ids).order_by(*ordering)
        return self._get_page(rows, number, self)


class CasePagePagination(PagePagination):
    """The API's page pagination, with the deferred join for deep pages."""

    django_paginator_class = DeferredJoinPaginator
