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
