"""YARA rules as IOCs: validated on save (a syntax error is a 400 naming the line), run
against uploaded samples and case evidence, and packaged for endpoint scans."""

from __future__ import annotations

import io

import pytest
from django.core.files.base import ContentFile

from intel.models import IOC, FileScan
from intel.services import yara_scan_evidence, yara_scan_payload
from tenancy import roles
from tenancy.context import tenant_context
from tests.intel.factories import make_ioc

pytestmark = pytest.mark.django_db

RULE = """
rule Stopclock_Test_Dropper
{
    strings:
        $a = "EVIL-DROPPER-MARKER"
    condition:
        $a
}
"""
BROKEN = 'rule broken {\n  strings:\n    $a = "x"\n  condition:\n    $b\n}\n'


def test_yara_syntax_error_is_a_400_with_the_line(tenant_a, api_client):
    client = api_client(tenant_a, roles.ANALYST)
    response = client.post("/api/v1/iocs/", {"type": "yara", "value": BROKEN}, format="json")
    assert response.status_code == 400
    message = response.json()["error"]["fields"]["value"]
    assert message == 'line 6: undefined string "$b"'
    with tenant_context(tenant_a):
        assert not IOC.objects.exists()


def test_yara_include_is_refused(tenant_a, api_client):
    client = api_client(tenant_a, roles.ANALYST)
    rule = 'include "/etc/passwd"\nrule x { condition: true }'
    response = client.post("/api/v1/iocs/", {"type": "yara", "value": rule}, format="json")
    assert response.status_code == 400
    assert "include" in response.json()["error"]["fields"]["value"]


def test_a_sample_is_scanned_with_the_active_rules(
    tenant_a, api_client, django_capture_on_commit_callbacks
):
    client = api_client(tenant_a, roles.ANALYST)
    created = client.post("/api/v1/iocs/", {"type": "yara", "value": RULE}, format="json")
    assert created.status_code == 201
    ioc_id = created.json()["id"]
    sample = io.BytesIO(b"MZ....EVIL-DROPPER-MARKER....")
    sample.name = "dropper.bin"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/file-scans/", {"file": sample}, format="multipart")
    assert response.status_code == 202
    scan = client.get(f"/api/v1/file-scans/{response.json()['id']}/").json()
    assert scan["status"] == "succeeded" and scan["rules_count"] == 1
    assert scan["matches"] == [
        {"ioc": ioc_id, "key": created.json()["key"], "rules": ["Stopclock_Test_Dropper"]}
    ]
    clean = io.BytesIO(b"nothing to see")
    clean.name = "clean.txt"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/file-scans/", {"file": clean}, format="multipart")
    assert client.get(f"/api/v1/file-scans/{response.json()['id']}/").json()["matches"] == []


def test_expired_rules_do_not_scan(tenant_a):
    from intel.services import ioc_expire
    from intel.services.yara import scan_bytes

    with tenant_context(tenant_a):
        ioc = make_ioc("yara", RULE)
        assert scan_bytes(b"EVIL-DROPPER-MARKER")[0]
        ioc_expire(ioc=ioc)
        assert scan_bytes(b"EVIL-DROPPER-MARKER") == ([], 0)


def test_case_evidence_is_scanned_when_uploaded(tenant_a, django_capture_on_commit_callbacks):
    from cases.services import case_create, evidence_upload

    with tenant_context(tenant_a):
        ioc = make_ioc("yara", RULE)
        case = case_create(title="Phishing", severity="high", phase="initial_infection")
        upload = ContentFile(b"attachment EVIL-DROPPER-MARKER", name="invoice.doc")
        with django_capture_on_commit_callbacks(execute=True):
            evidence = evidence_upload(case=case, upload=upload)
        scan = FileScan.objects.get(target="evidence", evidence_id=evidence.pk)
        assert scan.status == "succeeded"
        assert scan.matches[0]["ioc"] == ioc.pk
        again = yara_scan_evidence(evidence)  # the service, as a task would call it
        assert again.matches == scan.matches and again.sha256 == evidence.sha256


def test_scan_payload_for_endpoints(tenant_a):
    with tenant_context(tenant_a):
        ioc = make_ioc("yara", RULE)
        payload = yara_scan_payload()
    assert payload["type"] == "yara_scan"
    assert payload["rules"] == [
        {"ioc": ioc.pk, "key": ioc.key, "namespace": f"ioc{ioc.pk}", "source": ioc.value}
    ]
