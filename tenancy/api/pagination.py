from rest_framework.pagination import CursorPagination, PageNumberPagination


class PagePagination(PageNumberPagination):
    """`?page=N&page_size=M` (max 500): the default for list endpoints."""

    page_size_query_param = "page_size"
    max_page_size = 500


class SeqCursorPagination(CursorPagination):
    """Stable deep paging over append-only tables (audit, observations)."""

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    ordering = "-id"
