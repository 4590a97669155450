"""Serializer fields every app's API shares."""

from __future__ import annotations

from rest_framework import serializers

MAX_ID = 2**63 - 1  # a 64-bit primary key: PostgreSQL's bigint, SQLite's INTEGER


class IdField(serializers.IntegerField):
    """The id of a row given in a request body: a positive 64-bit integer.

    A bigger number is a 400 naming the field; unbounded, it reached the database as an
    `__in` lookup and failed there (OverflowError on SQLite, DataError on PostgreSQL: 500).
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(**kwargs)


def query_text(request, name: str, *, default: str = "", max_length: int = 1000) -> str:
    """A text query parameter a view reads itself, validated as a serializer's CharField
    (no NUL byte, no lone surrogate, bounded): a 400 naming it, where a NUL byte reached
    PostgreSQL and failed there (a 500)."""
    return _text(name, request.query_params.get(name, default), max_length)


def query_texts(request, name: str, *, max_length: int = 1000) -> list[str]:
    """A repeatable text query parameter (`?tag=a&tag=b`), each value as `query_text`."""
    return [_text(name, value, max_length) for value in request.query_params.getlist(name)]


def _text(name: str, value: str, max_length: int) -> str:
    field = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=max_length)
    try:
        return field.run_validation(value)
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({name: exc.detail}) from None
