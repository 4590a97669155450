"""SQL metacharacters in every filter.

Every query parameter of every GET operation of the API (from the OpenAPI schema, and every
filter of the view's django-filter FilterSet, which the schema may not list) and every
input of every GET form of the browser pages is sent quotes, comments, `UNION SELECT`,
LIKE wildcards, a NUL byte, a number past 64 bits, and the like. Each request must answer
200 or a 4xx in the error format — never a 5xx — carry nothing of the other tenant, and,
where the parameter is free text, match nothing: a tautology that returned rows, or a `%`
that matched everything, would be the injection showing.
"""

from __future__ import annotations

import json

import pytest

from tenancy import roles

from .fuzzing import view_of
from .hostile import api_operations, browser, page_objects, tenant_routes
from .test_hostile_xss import get_form_fields
from .world import MARK_B, leaks

# Every filter gets these; the heavy run (STOPCLOCK_HEAVY=1) adds LONG_LIST.
PAYLOADS = [
    "' OR '1'='1",
    "%",
    "_",
    "a\x00b",
    "9223372036854775808",  # 2**63: one past a bigint
    "²",  # a digit to str.isdigit(), not to int()
]
LONG_LIST = [
    "' UNION SELECT username, password FROM auth_user --",
    "\\",
    "' OR 1=1 --",
    '" OR ""="',
    "1; DROP TABLE cases_case; --",
    "') OR ('a'='a",
    "%%' --",
    "\\'; SELECT pg_sleep(5); --",
    "*/ OR /*",
    "99999999999999999999999",
    "18446744073709551616",
    "-1",
    "1e309",
    "NaN",
    "0x7fffffff",
    "١٢٣",
    "[]",
    "{}",
    "$where: 1",
    "ö'∂ƒ©",
    "x" * 5000,
]
NONCE = "zq9nonce"  # in no row: what a text filter that works returns nothing for


# Parameters that are not filters over data: paging and ordering (a bad one is ignored or
# refused, and the list is whatever it was).
NOT_A_FILTER = {"ordering", "page", "page_size", "cursor", "limit", "offset", "format"}


def _filters(operation) -> dict[str, bool]:
    """name -> whether it is free text, for every query parameter of a list operation."""
    found: dict[str, bool] = {}
    for parameter in operation.spec.get("parameters", []):
        if parameter.get("in") != "query":
            continue
        schema = parameter.get("schema", {})
        text = schema.get("type") == "string" and not schema.get("enum") and "format" not in schema
        found[parameter["name"]] = text
    if "{" not in operation.path:  # a list: its FilterSet's filters, listed or not
        filterset = getattr(view_of(operation.path), "filterset_class", None)
        for name in getattr(filterset, "base_filters", {}):
            found.setdefault(name, False)
    return found


def _results(body) -> list | None:
    if isinstance(body, dict) and isinstance(body.get("results"), list):
        return body["results"]
    return body if isinstance(body, list) else None


def _sweep_api(world, client, payloads) -> tuple[int, list[str]]:
    client.raise_request_exception = False
    auth = {"HTTP_AUTHORIZATION": world.a.auth(roles.ADMIN)}
    problems, tried = [], 0
    for operation in api_operations():
        if operation.method != "get" or operation.is_agent:
            continue
        url = operation.url(world.a)
        for name, free_text in _filters(operation).items():
            # a text filter that matches nothing for a nonce must match, for a payload, only
            # rows that contain the payload: more would be a wildcard or a tautology at work
            literal = free_text and name not in NOT_A_FILTER and "{" not in operation.path
            if literal:
                nonce = client.get(url, {name: NONCE}, **auth)
                literal = (
                    nonce.status_code == 200
                    and nonce["Content-Type"] == "application/json"
                    and not _results(json.loads(_body(nonce)))
                )
            for value in payloads:
                tried += 1
                response = client.get(url, {name: value}, **auth)
                problem = _problem(response, value, literal)
                if problem:
                    problems.append(f"{operation.label}?{name}={value[:30]!r}: {problem}")
    return tried, problems


def _body(response) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def _problem(response, value: str, literal: bool) -> str | None:
    status, content = response.status_code, _body(response)
    if status >= 500:
        return str(status)
    if leaks(content, MARK_B):
        return "tenant B's data"
    if status >= 400:
        return None if b'"error"' in content else f"{status} not in the error format"
    if literal and response["Content-Type"] == "application/json":
        needle = json.dumps(value.lower(), ensure_ascii=False)[1:-1]
        for row in _results(json.loads(content)) or []:
            if needle not in json.dumps(row, ensure_ascii=False).lower():
                return f"matched a row without {value[:20]!r}: {str(row)[:120]}"
    return None


def test_every_api_filter_takes_sql_metacharacters_as_data(world, client):
    tried, problems = _sweep_api(world, client, PAYLOADS)
    assert tried > 1000
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


@pytest.mark.heavy
def test_every_api_filter_takes_the_long_list(world, client):
    _, problems = _sweep_api(world, client, LONG_LIST)
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)


def _sweep_pages(world, payloads) -> tuple[int, list[str]]:
    client = browser(world.a, roles.ADMIN, raise_request_exception=False)
    objects = page_objects(world.a)
    problems, fields_tried = [], 0
    for route in tenant_routes():
        url = route.url(world.a.tenant.slug, objects.get(route.name))
        page = client.get(url)
        if page.status_code != 200 or not page["Content-Type"].startswith("text/html"):
            continue
        fields = get_form_fields(page.content)
        fields_tried += len(fields)
        for value in payloads:
            response = client.get(url, {name: value for name in fields})
            if response.status_code >= 500:
                problems.append(f"{route.name} {url} {value[:30]!r}: {response.status_code}")
            elif leaks(_body(response), MARK_B):
                problems.append(f"{route.name} {url} {value[:30]!r}: tenant B's data")
    return fields_tried, problems


def test_every_browser_filter_form_takes_sql_metacharacters_as_data(world):
    fields_tried, problems = _sweep_pages(world, PAYLOADS)
    assert fields_tried > 40
    assert not problems, "\n".join(problems)


@pytest.mark.heavy
def test_every_browser_filter_form_takes_the_long_list(world):
    _, problems = _sweep_pages(world, LONG_LIST)
    assert not problems, "\n".join(problems)
