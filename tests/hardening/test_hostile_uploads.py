"""Path traversal and hostile file names in every upload.

Every operation of the API that takes a file (multipart with a binary part, from the
OpenAPI schema) and the browser's upload forms are sent files named like
`../../../../etc/passwd`, `..\\..\\win.ini`, absolute paths, NUL bytes, encoded and
Unicode look-alike separators, a header-splitting name and a 10 000-character name —
written raw into the multipart body, as a hostile client would, not cleaned by a test
client first. Then:

- every file under MEDIA_ROOT sits at a path the server chose (`SERVER_PATHS`), and
  nothing was written outside MEDIA_ROOT;
- every stored name is a display name (no separator, control or invisible bidi character;
  an evidence name, which becomes the download's file name, no leading dot either);
- each evidence download names the file in one clean `Content-Disposition` header;

The evidence service is also called directly with the raw names (no multipart parser in
front of it), so its own sanitiser is tested and not only Django's.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile

from cases.models import Evidence
from tenancy import roles
from tenancy.context import tenant_context, unscoped

from .hostile import api_operations, browser

HOSTILE_NAMES = [
    "../../../../../../etc/passwd",
    "..\\..\\..\\windows\\win.ini",
    "/etc/cron.d/evil",
    "C:\\Windows\\System32\\drivers\\etc\\hosts",
    "....//....//....//tmp/evil",
    "%2e%2e%2f%2e%2e%2fevil.sh",
    "..%c0%af..%c0%afevil",
    "\uff0e\uff0e\uff0fevil",  # fullwidth "../", NFKC folds it to ASCII
    "..\u2215..\u2215evil",  # division slash
    "evil.txt\x00.png",
    "\u202eexe.txt",  # right-to-left override
    ".htaccess",
    "..",
    "-rf --no-preserve-root",
    "a\"; filename*=UTF-8''evil.html",
    "name\r\nX-Injected: yes.txt",
    "x" * 10_000 + ".txt",
]

# Where the server stores uploads, whatever they were called.
SERVER_PATHS = [
    re.compile(r"^evidence/\d+/\d+/[0-9a-f]{32}$"),
    re.compile(r"^[a-z0-9-]+/intel/imports/[0-9a-f]{32}\.(json|csv|txt)$"),
    re.compile(r"^[a-z0-9-]+/intel/samples/[0-9a-f]{32}$"),
]
# In any stored display name: a real separator, a control or an invisible bidi character.
UNSAFE_DISPLAY = re.compile(r"[/\\\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def _multipart(fields: dict[str, str], file_field: str, filename: str, content: bytes):
    """A multipart body with `filename` exactly as given (no client-side cleaning)."""
    boundary = uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append(f"{head}{value}\r\n".encode())
    quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
    parts.append(
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; '
            f'filename="{quoted}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode("utf-8", "surrogatepass")
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def _file_operations() -> list[str]:
    """Paths of the API operations whose body has a binary file part."""
    found = []
    for operation in api_operations():
        body = operation.spec.get("requestBody", {}).get("content", {}).get("multipart/form-data")
        if not body:
            continue
        ref = body["schema"].get("$ref", "")
        from .fuzzing import schema_document

        schema = schema_document()["components"]["schemas"].get(ref.rsplit("/", 1)[-1], {})
        if any(p.get("format") == "binary" for p in schema.get("properties", {}).values()):
            found.append(operation.path)
    return found


def _bodies(world) -> dict[str, tuple[dict[str, str], str, bytes]]:
    """Each file-taking operation -> (its other fields, its file field, valid content)."""
    case = world.a.objects["case"].pk
    return {
        "/api/v1/evidence/": ({"case": str(case), "description": "x"}, "file", b"evidence"),
        "/api/v1/imports/": ({"format": "text"}, "file", b"evil-import.example\n"),
        "/api/v1/file-scans/": ({}, "file", b"sample bytes"),
    }


def test_every_file_upload_keeps_the_server_s_path_and_a_clean_name(world, client):
    bodies = _bodies(world)
    assert sorted(_file_operations()) == sorted(bodies), "a new upload operation: add it here"
    auth = {"HTTP_AUTHORIZATION": world.a.auth(roles.ADMIN)}
    problems = []
    for path, (fields, file_field, content) in bodies.items():
        for name in HOSTILE_NAMES:
            body, content_type = _multipart(fields, file_field, name, content)
            response = client.generic("POST", path, body, content_type=content_type, **auth)
            if response.status_code not in (201, 202, 400):
                problems.append(f"POST {path} {name[:40]!r}: {response.status_code}")
    assert not problems, "\n".join(problems)
    _check_storage(world)


def test_the_browser_upload_forms_keep_the_server_s_path(world):
    admin = browser(world.a, roles.ADMIN)
    case = world.a.objects["case"].pk
    base = f"/t/{world.a.tenant.slug}"
    for name in HOSTILE_NAMES:
        evidence, content_type = _multipart({"action": "evidence"}, "file", name, b"evidence")
        response = admin.generic(
            "POST", f"{base}/cases/{case}/action/", evidence, content_type=content_type
        )
        assert response.status_code in (200, 302, 400), (name, response.status_code)
        feed, content_type = _multipart({"format": "text"}, "file", name, b"evil.example\n")
        response = admin.generic(
            "POST", f"{base}/intel/imports/new/", feed, content_type=content_type
        )
        assert response.status_code in (200, 302, 400), (name, response.status_code)
    _check_storage(world)


def test_the_evidence_service_cleans_raw_names_itself(world):
    """No multipart parser in front: the service's own sanitiser decides."""
    from cases.services import evidence_upload

    case = world.a.objects["case"]
    with tenant_context(world.a.tenant):
        for name in HOSTILE_NAMES:
            evidence = evidence_upload(case=case, upload=ContentFile(b"raw", name=name))
            assert not UNSAFE_DISPLAY.search(evidence.original_name), evidence.original_name
            assert not evidence.original_name.startswith("."), evidence.original_name
            assert ".." not in evidence.original_name.split("/")
            assert len(evidence.original_name) <= 255
    _check_storage(world)


def _check_storage(world) -> None:
    media = Path(settings.MEDIA_ROOT)
    outside = [str(p) for p in media.parent.rglob("*") if p.is_file() and media not in p.parents]
    assert outside == [], f"written outside MEDIA_ROOT: {outside}"
    stored = [str(p.relative_to(media)) for p in media.rglob("*") if p.is_file()]
    assert stored, "nothing stored: the uploads were all refused"
    strays = [p for p in stored if not any(rx.match(p) for rx in SERVER_PATHS)]
    assert strays == [], f"files at paths the server did not choose: {strays}"
    with unscoped("test: every stored display name, both tenants"):
        names = list(Evidence.objects.values_list("original_name", flat=True))
        from intel.models import FileScan, ImportJob

        names += list(ImportJob.objects.values_list("filename", flat=True))
        names += list(FileScan.objects.values_list("filename", flat=True))
    bad = [n[:60] for n in names if n and UNSAFE_DISPLAY.search(n)]
    assert bad == [], f"unsafe display names stored: {bad}"
    _check_downloads(world)


def _check_downloads(world) -> None:
    admin = browser(world.a, roles.ADMIN)
    with tenant_context(world.a.tenant):
        ids = list(Evidence.objects.values_list("pk", flat=True))
    for pk in ids:
        response = admin.get(f"/t/{world.a.tenant.slug}/evidence/{pk}/download/")
        assert response.status_code == 200
        disposition = response["Content-Disposition"]
        assert "\r" not in disposition and "\n" not in disposition
        assert disposition.startswith("attachment;")
        assert re.search(r'filename="[^"/\\]*"|filename\*=', disposition), disposition
        assert response["Content-Type"] == "application/octet-stream"
        b"".join(response.streaming_content)  # read to the end: the client closes it then


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("../x", "x"),
        ("..\\x", "x"),
        ("/abs", "abs"),
        ("\uff0e\uff0e\uff0fevil", "evil"),
        ("invoice\u202etxt.exe", "invoice_txt.exe"),  # not shown as "invoiceexe.txt"
        ("a\u200bb\u2066c", "a_b_c"),
        (".bashrc", "bashrc"),
    ],
)
def test_sanitise_filename_keeps_a_plain_name(name, shown):
    from cases.services.work import sanitise_filename

    assert sanitise_filename(name) == shown
