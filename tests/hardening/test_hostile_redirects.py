"""Open redirects: a `next` pointing off the site, on every browser route.

Forms carry `next` (where to go back to) and sign-in takes it from the query string. Every
route under /t/<slug>/ (the URL resolver's) is sent, by a signed-in admin, a POST whose
`next` is another site in the spellings browsers follow (`//host`, `/\\host`,
`https:host`, …), with form values that are junk of the kind a hostile page would post
(ids that are not ASCII digits or pass 64 bits); the /accounts/ pages get the same `next`
in their query string. No answer may send the browser off the site, and none may be a 5xx.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from tenancy import roles

from .hostile import all_routes, browser, page_objects, tenant_routes

ELSEWHERE = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "\\\\evil.example/",
    "https:evil.example",
    "javascript:alert(1)",
    " //evil.example/",
]
JUNK = {"action": "note", "op": "approve", "body": "x", "key": "x", "ioc": ["²", "9" * 23]}


def _leaves_the_site(location: str) -> bool:
    cleaned = location.strip().replace("\\", "/")
    parts = urlsplit(cleaned)
    return (
        bool(parts.netloc)
        or parts.scheme not in ("", "http", "https")
        or (parts.scheme in ("http", "https") and parts.netloc not in ("", "testserver"))
    )


def test_no_route_redirects_off_the_site(world):
    admin = browser(world.a, roles.ADMIN, raise_request_exception=False)
    objects = page_objects(world.a)
    urls = [route.url(world.a.tenant.slug, objects.get(route.name)) for route in tenant_routes()]
    accounts = ["/" + p for p, name, _ in all_routes() if p.startswith("accounts/")]
    attempts = [("post", url, f"?next={target}") for url in urls for target in ELSEWHERE]
    attempts += [("get", url, f"?next={target}") for url in accounts for target in ELSEWHERE]
    problems = []
    for method, url, query in attempts:
        target = query.removeprefix("?next=")
        data = {**JUNK, "next": target} if method == "post" else {}
        response = getattr(admin, method)(url + (query if method == "get" else ""), data)
        location = response.get("Location", "")
        if response.status_code >= 500:
            problems.append(f"{method.upper()} {url} next={target!r}: 500")
        elif location and _leaves_the_site(location):
            problems.append(f"{method.upper()} {url} next={target!r} -> {location}")
    assert len(attempts) > 500
    assert not problems, "\n".join(sorted(set(problems)))


def test_signing_in_with_a_foreign_next_stays_here(world, client):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(pk=world.a.users[roles.ANALYST].pk)
    user.set_password("correct horse battery")
    user.save()
    for target in ELSEWHERE:
        response = client.post(
            f"/accounts/login/?next={target}",
            {"username": user.username, "password": "correct horse battery"},
        )
        assert response.status_code == 302
        assert not _leaves_the_site(response["Location"]), (target, response["Location"])
        client.logout()
