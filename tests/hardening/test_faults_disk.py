"""The disk fills while evidence is stored: a clear 507 (API) or message (browser), no
evidence row, no custody or timeline entry, no file — not even a truncated one — and the
space the failed upload took is given back.

The full disk is real: gunicorn runs in a mount namespace of its own (`unshare --mount`)
where MEDIA_ROOT is a 256 KiB tmpfs, so the write fails with the kernel's ENOSPC, exactly
where it would on a full volume. (It needs CAP_SYS_ADMIN, as root in CI has; without it
the test is skipped rather than faked.) The test reads that tmpfs through
/proc/<gunicorn>/root, which resolves paths in gunicorn's mount namespace.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from cases.models import CustodyEvent, Evidence, TimelineEntry
from tenancy import roles
from tenancy.context import tenant_context
from tenancy.models import AuditEvent
from tenancy.services import membership_set, user_create
from tests.cases.factories import make_case
from tests.fixtures.faults import (
    app_env,
    browser_login,
    insecure_cookies,
    shared_database_url,
    start_gunicorn,
)

pytestmark = [pytest.mark.heavy, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PASSWORD = "disk-Pass-9137"
TMPFS = 'mount -t tmpfs -o size=256k,mode=0755 faults-media "$0" && exec "$@"'


def private_tmpfs(media: Path) -> list[str]:
    """The command prefix that runs a process with a tiny tmpfs on `media`."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare (util-linux) is not installed")
    prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c", TMPFS, str(media)]
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"cannot mount a private tmpfs here (needs CAP_SYS_ADMIN): {probe.stderr}")
    return prefix


def files_under(root: Path) -> list[str]:
    return sorted(
        str(Path(folder, name).relative_to(root))
        for folder, _, names in os.walk(root)
        for name in names
    )


def test_full_disk_while_storing_evidence_is_a_507_and_leaves_nothing_behind(
    postgres_only, tenant_a, api_client, fault_stack, settings
):
    media = fault_stack.var_dir / "media"
    media.mkdir()
    wrap = private_tmpfs(media)
    client = api_client(tenant_a, roles.ANALYST)
    # A password hash the server checks (tests hash with MD5, which production lacks).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    with tenant_context(tenant_a):
        case = make_case(title="Ransomware on the file server")
        membership_set(user=user_create(username="disk-analyst", password=PASSWORD), role="analyst")
    env = app_env(
        fault_stack.var_dir,
        database_url=shared_database_url(),
        broker_url="",
        STOPCLOCK_MEDIA_ROOT=str(media),
    )
    web, url = start_gunicorn(env, fault_stack.var_dir / "gunicorn.log", workers=1, wrap=wrap)
    fault_stack.add(web)
    seen = Path(f"/proc/{web.pid}/root") / str(media).lstrip("/")  # gunicorn's tmpfs
    api = requests.Session()
    api.headers["Authorization"] = f"Token {client.key}"

    def upload(name: str, size: int) -> requests.Response:
        return api.post(
            f"{url}/api/v1/evidence/",
            data={"case": case.pk, "description": name},
            files={"file": (name, os.urandom(size))},
            timeout=30,
        )

    first = upload("ransom-note.txt", 20 * 1024)
    assert first.status_code == 201, first.text
    stored = files_under(seen)
    assert len(stored) == 1 and stored[0].startswith(f"evidence/{tenant_a.pk}/"), stored

    full = upload("memory.dmp", 1024 * 1024)

    assert full.status_code == 507, full.text
    error = full.json()["error"]
    assert error["code"] == "insufficient_storage"
    assert "nothing was saved" in error["message"]
    with tenant_context(tenant_a):
        assert list(Evidence.objects.values_list("original_name", flat=True)) == ["ransom-note.txt"]
        assert CustodyEvent.objects.count() == 1
        assert TimelineEntry.objects.filter(kind=TimelineEntry.Kind.EVIDENCE).count() == 1
        assert AuditEvent.objects.filter(action="evidence.upload").count() == 1
    assert len(files_under(seen)) == 1, files_under(seen)  # no partial file left

    # The browser's upload form: the same refusal, said on the case page.
    browser = browser_login(url, "disk-analyst", PASSWORD)
    page = f"{url}/t/{tenant_a.slug}/cases/{case.pk}/"
    assert browser.get(page, timeout=30).status_code == 200
    insecure_cookies(browser)
    posted = browser.post(
        f"{page}action/",
        data={"action": "evidence", "csrfmiddlewaretoken": browser.cookies["csrftoken"]},
        files={"file": ("disk.img", os.urandom(1024 * 1024))},
        headers={"Referer": page},
        allow_redirects=False,
        timeout=30,
    )
    assert posted.status_code == 302, posted.text[:500]
    insecure_cookies(browser)  # the message travels in a (Secure) cookie
    shown = browser.get(page, timeout=30).text
    assert "not enough disk space to store this file; nothing was saved" in shown
    with tenant_context(tenant_a):
        assert Evidence.objects.count() == 1
    assert len(files_under(seen)) == 1, files_under(seen)
    # The failed write's blocks were given back: a file that fits only if they were.
    again = upload("autoruns.csv", 180 * 1024)
    assert again.status_code == 201, again.text
    assert len(files_under(seen)) == 2
