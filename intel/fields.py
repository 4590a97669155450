"""A network column: PostgreSQL's `cidr` (so sweeps can use `inet <<= cidr`), text elsewhere."""

from __future__ import annotations

from django.db import models


class NetworkField(models.Field):
    description = "An IP network (cidr on PostgreSQL, text on SQLite)"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 50)
        super().__init__(*args, **kwargs)

    def db_type(self, connection):
        return "cidr" if connection.vendor == "postgresql" else "varchar(50)"

    def from_db_value(self, value, expression, connection):
        return None if value is None else str(value)

    def to_python(self, value):
        return None if value is None else str(value)

    def get_prep_value(self, value):
        return None if value in (None, "") else str(value)
