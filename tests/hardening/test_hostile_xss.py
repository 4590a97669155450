"""XSS: hostile markup in every free-text field, on every page that shows it and in the PDF.

Every CharField and TextField of every tenant-owned model (and the tenant's name, users'
names) that is not a choice is filled with a payload naming it — a tag of its own
(`<x17-3>`, field 17, row 3) followed by the classics (`"><img src=x onerror=…>`,
`<script>…</script>`, a `javascript:` Markdown link) as far as the column's length allows.
Then every browser page under /t/<slug>/ (each route of the URL resolver, with a row of the
right kind for those taking an id, as a page and as an htmx partial) is read and parsed:

- no payload tag appears as markup (escaped text is fine: that is how it is shown);
- no element carries an event-handler attribute, no `<script>` is inline, no link or
  source is a `javascript:`/`vbscript:`/`data:` URL (the CSP forbids inline script too;
  this proves the pages never rely on that second wall).

The same markup is sent back through every GET form of those pages (reflected XSS), and a
PDF report of the tenant (WeasyPrint) is rendered from the same data: the payloads print as
text and the PDF holds no script, launch or `javascript:` action.

A field is left out only with a reason (`NOT_FREE_TEXT`): values that are validated to a
shape with no room for markup, or that the server computes. A field added to a model is in
the matrix with no change here.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models

from tenancy import roles
from tenancy.context import Actor, RequestInfo, request_context, tenant_context, unscoped
from tenancy.models import AuditEvent, Tenant, TenantOwnedModel
from tenancy.services import audit_record

from .hostile import browser, page_objects, tenant_routes

CLASSICS = (
    "\"'><img src=x onerror=alert(1)><script>alert(1)</script>"
    "<a href=javascript:alert(1)>a</a>[md](javascript:alert(1))"
    "<svg onload=alert(1)>"
)

# Free-text columns that cannot carry markup, each with the reason.
HEX = "validated or computed as hexadecimal"
NOT_FREE_TEXT: dict[str, str] = {
    "auth.User.password": "a password hash, never shown",
    "tenancy.Tenant.slug": "a slug (validated), the URL prefix",
    "tenancy.Tenant.timezone": "validated against the IANA zone names",
    "tenancy.ApiToken.key_hash": HEX,
    "tenancy.AuditChainHead.last_hash": HEX,
    "tenancy.AuditEvent.prev_hash": HEX,
    "tenancy.AuditEvent.hash": HEX,
    "metrics.RegulatoryNotification.deadline": "a key of the regime's deadlines, validated",
    "cases.CaseLink.object_id": "the linked row's primary key, written by the service",
}


def free_text_fields() -> list[tuple[type[models.Model], models.Field]]:
    """(model, field) for every free-text column of tenant data."""
    found = []
    for model in apps.get_models():
        tenant_data = issubclass(model, TenantOwnedModel) or model in (Tenant, get_user_model())
        if not tenant_data or not model._meta.managed:
            continue
        for field in model._meta.concrete_fields:
            if not isinstance(field, models.CharField | models.TextField) or field.choices:
                continue
            if f"{model._meta.label}.{field.name}" in NOT_FREE_TEXT:
                continue
            found.append((model, field))
    return found


def payload(number: int, pk: int, max_length: int | None) -> str:
    text = f"<x{number}-{pk}>{CLASSICS}"
    return text[:max_length] if max_length else text


def plant(world) -> dict[int, str]:
    """Fill every free-text column of tenant A's rows; returns field number -> its name."""
    names, columns = {}, defaultdict(list)
    for number, (model, field) in enumerate(free_text_fields()):
        names[number] = f"{model._meta.label}.{field.name}"
        columns[model].append((number, field))
    user_ids = [user.pk for user in world.a.users.values()]
    with unscoped("test: plant hostile text in tenant A's rows"):
        for model, fields in columns.items():
            if model is AuditEvent:
                continue
            rows = model._default_manager.all()
            if issubclass(model, TenantOwnedModel):
                rows = rows.filter(tenant=world.a.tenant)
            elif model is Tenant:
                rows = rows.filter(pk=world.a.tenant.pk)
            else:
                rows = rows.filter(pk__in=user_ids)
            for pk in rows.values_list("pk", flat=True):
                values = {f.attname: payload(n, pk, f.max_length) for n, f in fields}
                model._default_manager.filter(pk=pk).update(**values)
    _plant_audit_event(world, columns[AuditEvent])
    world.a.tenant.refresh_from_db()
    return names


def _plant_audit_event(world, fields) -> None:
    """The audit trail is append-only (PostgreSQL refuses UPDATE): one more event, written
    by the service as any other, with every free-text column hostile."""
    values = {field.name: payload(number, 0, field.max_length) for number, field in fields}
    by_context = {"actor_kind", "actor_id", "actor_label", "request_id"}
    by_call = {"action", "object_type", "object_id", "object_repr"}
    assert set(values) == by_context | by_call, "a new AuditEvent column: plant it here"
    actor = Actor(kind=values["actor_kind"], id=values["actor_id"], label=values["actor_label"])
    info = RequestInfo(request_id=values["request_id"], actor=actor)
    with tenant_context(world.a.tenant), request_context(info):
        audit_record(values["action"], None, {}, **{k: values[k] for k in by_call - {"action"}})


# --- what a page must not contain ------------------------------------------------------------
PLANTED_TAG = re.compile(r"^x(\d+)-(\d+)$")
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "xlink:href", "data", "poster"}
BAD_SCHEMES = ("javascript:", "vbscript:", "data:")


class _Scan(HTMLParser):
    def __init__(self, names: dict[int, str]):
        super().__init__(convert_charrefs=True)
        self.names = names
        self.problems: list[str] = []
        self.in_script = False

    def handle_starttag(self, tag, attrs):
        planted = PLANTED_TAG.match(tag)
        if planted:
            field = self.names.get(int(planted.group(1)), planted.group(1))
            self.problems.append(f"raw markup from {field}")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"<{tag} {name}=…> event handler")
            if name in URL_ATTRIBUTES and value:
                squashed = re.sub(r"[\s\x00-\x1f]", "", html.unescape(value)).lower()
                if squashed.startswith(BAD_SCHEMES) and not (
                    tag == "img" and squashed.startswith("data:image/")
                ):
                    self.problems.append(f"<{tag} {name}={value[:40]!r}>")
        if tag == "script" and not dict(attrs).get("src"):
            self.problems.append("inline <script>")


def scan(content: bytes, names: dict[int, str]) -> list[str]:
    parser = _Scan(names)
    parser.feed(content.decode("utf-8", "replace"))
    return sorted(set(parser.problems))


def test_the_scanner_sees_what_it_looks_for():
    """The page check itself: it names the field whose payload became markup, and passes
    the same payload escaped (so a pass below means something)."""
    hostile = f"<x7-1>{CLASSICS}<a href=' Java&#115;cript:x'>b</a>"
    assert scan(f"<p>{hostile}</p>".encode(), {7: "cases.Case.title"}) == [
        "<a href=' Javascript:x'>",
        "<a href='javascript:alert(1)'>",
        "<img onerror=…> event handler",
        "<svg onload=…> event handler",
        "inline <script>",
        "raw markup from cases.Case.title",
    ]
    assert scan(f"<p>{html.escape(hostile)}</p>".encode(), {}) == []
    assert scan(b'<img src="data:image/png;base64,AA"><script src="/s.js"></script>', {}) == []


def _shown(content: bytes) -> set[int]:
    """Field numbers whose payload the page shows (escaped)."""
    return {int(n) for n in re.findall(rb"&lt;x(\d+)-\d+&gt;", content)}


# --- the pages --------------------------------------------------------------------------------
class _Forms(HTMLParser):
    """Names of the inputs of the page's GET forms."""

    def __init__(self):
        super().__init__()
        self.get_form = False
        self.names: set[str] = set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.get_form = (attrs.get("method") or "get").lower() == "get"
        elif (
            self.get_form
            and tag in ("input", "select", "textarea")
            and attrs.get("name")
            and attrs.get("type") not in ("submit", "button", "checkbox", "radio")
        ):
            self.names.add(attrs["name"])

    def handle_endtag(self, tag):
        if tag == "form":
            self.get_form = False


def get_form_fields(content: bytes) -> set[str]:
    parser = _Forms()
    parser.feed(content.decode("utf-8", "replace"))
    return parser.names


def test_no_free_text_field_becomes_markup_on_any_page(world):
    names = plant(world)
    client = browser(world.a, roles.ADMIN, raise_request_exception=False)
    objects = page_objects(world.a)
    problems, shown, pages = [], set(), 0
    for route in tenant_routes():
        url = route.url(world.a.tenant.slug, objects.get(route.name))
        for headers in ({}, {"HTTP_HX_REQUEST": "true"}):
            response = client.get(url, **headers)
            if response.status_code == 405:
                break
            pages += 1
            if response.status_code >= 500:
                problems.append(f"{route.name} {url}: {response.status_code}")
                continue
            if response.get("Content-Type", "").startswith("text/html"):
                problems += [f"{route.name} {url}: {p}" for p in scan(response.content, names)]
                shown |= _shown(response.content)
    assert pages > 100
    assert not problems, "\n".join(problems)
    # the pages do show the text that matters (else this test would prove nothing)
    must_show = {
        "cases.Case.title",
        "cases.Case.description",
        "cases.Note.body",
        "cases.Alert.title",
        "cases.Task.title",
        "cases.Evidence.original_name",
        "endpoints.Endpoint.hostname",
        "endpoints.Observation.command_line",
        "endpoints.DetectionRule.title",
        "intel.IOC.value",
        "intel.IOC.description",
        "intel.Source.name",
        "tenancy.Tenant.name",
        "tenancy.AuditEvent.object_repr",
    }
    assert must_show <= {names[n] for n in shown}, must_show - {names[n] for n in shown}


def test_hostile_markup_sent_through_every_get_form_is_not_reflected(world):
    names = {0: "query string"}
    hostile = f"<x0-0>{CLASSICS}"
    client = browser(world.a, roles.ADMIN)
    objects = page_objects(world.a)
    problems, forms = [], 0
    for route in tenant_routes():
        url = route.url(world.a.tenant.slug, objects.get(route.name))
        page = client.get(url)
        if page.status_code != 200 or not page["Content-Type"].startswith("text/html"):
            continue
        fields = get_form_fields(page.content) | {"q", "search", "next", "page"}
        forms += bool(fields - {"q", "search", "next", "page"})
        response = client.get(url, {name: hostile for name in fields})
        if response.status_code >= 500:
            problems.append(f"{route.name} {url}: {response.status_code}")
        elif response["Content-Type"].startswith("text/html"):
            problems += [f"{route.name} {url}: {p}" for p in scan(response.content, names)]
    assert forms > 10
    assert not problems, "\n".join(problems)


def test_error_pages_do_not_reflect_the_path(world):
    client = browser(world.a, roles.ADMIN)
    for url in (
        f"/t/{world.a.tenant.slug}/<x0-0>{CLASSICS}/",
        f"/t/<x0-0>{CLASSICS}/cases/",
        f"/<x0-0>{CLASSICS}",
    ):
        response = client.get(url)
        assert response.status_code == 404
        assert scan(response.content, {0: "path"}) == []


# --- the PDF ------------------------------------------------------------------------------------
PDFTOTEXT = shutil.which("pdftotext")


@pytest.mark.skipif(PDFTOTEXT is None, reason="pdftotext (poppler-utils) is not installed")
def test_the_pdf_report_prints_hostile_text_as_text(world, tmp_path):
    from metrics import services
    from metrics.aggregation import Filters
    from metrics.models import Report
    from metrics.periods import parse_period

    names = plant(world)
    # what a requester types into a report: filters, and who they are
    names[900], names[901] = "report filter: tag", "report filter: source"
    admin = world.a.users[roles.ADMIN]
    filters = Filters(tag=f"<x900-0>{CLASSICS}", source=f"<x901-0>{CLASSICS}", assignee_id=admin.pk)
    with tenant_context(world.a.tenant):
        report = services.report_request(
            period=parse_period({"period": "last-30-days"}, "UTC"), filters=filters
        )
        Report.objects.filter(pk=report.pk).update(requested_by_label=f"<x902-0>{CLASSICS}")
        names[902] = "metrics.Report.requested_by_label"
        report = services.report_generate(report_id=report.pk)
    assert report.status == "succeeded", report.error
    path = Path(settings.MEDIA_ROOT) / report.file_path
    raw = path.read_bytes()
    for active in (b"/JavaScript", b"/JS ", b"/Launch", b"javascript:", b"/SubmitForm"):
        assert active not in raw, active
    text = subprocess.run(
        [PDFTOTEXT, "-layout", str(path), "-"], capture_output=True, check=True
    ).stdout.decode()
    printed = {names[int(n)] for n in re.findall(r"<x(\d+)-\d+>", text)}
    assert {  # on the cover and every running header, in the filters, the requester
        "tenancy.Tenant.name",
        "auth.User.username",
        "report filter: tag",
        "report filter: source",
        "metrics.Report.requested_by_label",
    } <= printed
    assert "<script>alert(1)</script>" in text.replace("\n", "")  # shown, not run
