"""The API's JSON parser: DRF's, refusing bodies nested deeper than any Stopclock stores.

Python's `json` recurses once per level: a body of 100 000 `[` (200 KB, well under the size
cap) raised `RecursionError` out of DRF's parser, which only expects `ValueError`, and
every write answered 500. A body that parses but is nested hundreds deep would do the same
later, wherever it is walked again (serialising an alert's `raw` to the database, an error
message, a webhook). So: a parse that recurses too far is a 400, and so is a parsed body
deeper than `MAX_DEPTH` (SIEM alerts, the deepest thing we accept, are a dozen levels).
"""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_DEPTH = 64


def deeper_than(value: Any, limit: int) -> bool:
    """Whether lists/objects in `value` nest more than `limit` levels (iterative walk)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        message = f"JSON parse error - nested deeper than {MAX_DEPTH} levels"
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(message) from None
        if deeper_than(data, MAX_DEPTH):
            raise ParseError(message)
        return data
