"""Feeds into IOCs: STIX 2.1 bundles, CSV with a column mapping, MISP events, plain lists;
the import job's summary, bad input, resumability, and the `import_iocs` command."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from intel.models import IOC, ImportJob, IOCSource, Reputation
from intel.services import import_create, import_run
from tenancy import roles
from tenancy.context import tenant_context
from tests.fixtures.intel import bundle, indicator

pytestmark = pytest.mark.django_db

SHA = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
MD5 = "d41d8cd98f00b204e9800998ecf8427f"


def stix_bundle() -> bytes:
    return json.dumps(
        bundle(
            indicator(
                f"[file:hashes.'SHA-256' = '{SHA}']",
                confidence=90,
                kill_chain_phases=[
                    {"kill_chain_name": "mitre-attack", "phase_name": "persistence"}
                ],
            ),
            indicator("[ipv4-addr:value = '198.51.100.0/24']"),
            indicator("[url:value = 'HTTP://Evil-Example.NET:80/a/../gate.php']"),
            indicator("[windows-registry-key:key LIKE 'HKLM\\\\Software\\\\Evil%']"),
            indicator("[process:command_line MATCHES 'powershell.+-enc']"),
            indicator("[file:size > 1000]"),
            indicator("[network-traffic:dst_port = 4444]"),
            indicator("[domain-name:value = 'a.example.org'] AND [domain-name:value = 'b.org']"),
            indicator(f"[file:hashes.MD5 = '{MD5[:-1]}']"),
            {"type": "malware", "id": "malware--1", "name": "Evil RAT", "is_family": True},
        )
    ).encode()


def run(job):
    import_run(job=job)
    job.refresh_from_db()
    return job


def test_stix_bundle_loads_and_lists_every_unsupported_pattern(tenant_a):
    with tenant_context(tenant_a):
        job = run(
            import_create(data=stix_bundle(), format="stix", source_name="vendor", enqueue=False)
        )
        assert job.status == "succeeded"
        values = dict(IOC.objects.values_list("type", "value"))
        assert values == {
            "sha256": SHA,
            "cidr": "198.51.100.0/24",
            "url": "http://evil-example.net/a/../gate.php",
            "registry_key": "hklm\\software\\evil*",
            "cmdline": "re:powershell.+-enc",
        }
        assert job.added == 5
        reasons = {s["reason"].split(":", 1)[0]: s["reason"] for s in job.skipped}
        text = json.dumps(job.skipped)
        assert "file:size" in text and "network-traffic:dst_port" in text
        assert "observations joined by AND" in text and "md5 must be 32 hex" in text
        assert job.skipped_count == len(job.skipped) == 4, reasons
        sha = IOC.objects.get(type="sha256")
        assert (sha.confidence, sha.phase) == (90, "persistence")
        assert Reputation.objects.get(hash=SHA).verdict == "malicious"


def test_second_source_adds_a_link_not_a_duplicate(tenant_a):
    with tenant_context(tenant_a):
        run(
            import_create(data=f"{SHA}\n".encode(), format="text", source_name="one", enqueue=False)
        )
        job = run(
            import_create(
                data=f"{SHA.upper()}\n198.51.100.9\n".encode(),
                format="text",
                source_name="two",
                enqueue=False,
            )
        )
        assert (job.added, job.updated) == (1, 1)
        assert IOC.objects.filter(type="sha256").count() == 1
        ioc = IOC.objects.get(type="sha256")
        assert sorted(ioc.sources.values_list("name", flat=True)) == ["one", "two"]
        assert ioc.source.name == "one"
        again = run(
            import_create(data=f"{SHA}\n".encode(), format="text", source_name="two", enqueue=False)
        )
        assert (again.added, again.updated, again.unchanged) == (0, 0, 1)
        assert IOCSource.objects.count() == 3


def test_csv_with_a_column_mapping(tenant_a):
    data = (
        "indicator;kind;score;labels\n"
        f"{SHA};sha256;70;apt-x,loader\n"
        "evil-cdn.net;;40;\n"
        "10.0.0.300;ipv4;;\n"
        f"{MD5[:31]};md5;;\n"
    ).encode()
    mapping = {"value": "indicator", "type": "kind", "confidence": "score", "tags": "labels"}
    with tenant_context(tenant_a):
        job = run(
            import_create(
                data=data,
                format="csv",
                options={"mapping": mapping},
                source_name="csv",
                enqueue=False,
            )
        )
        assert (job.status, job.added, job.skipped_count) == ("succeeded", 2, 2)
        assert {s["ref"] for s in job.skipped} == {"row 4", "row 5"}
        assert "md5 must be 32 hex characters, got 31" in json.dumps(job.skipped)
        ioc = IOC.objects.get(type="sha256")
        assert ioc.confidence == 70
        assert sorted(t.name for t in ioc.tags.all()) == ["apt-x", "loader"]


def test_misp_event_imports_to_ids_attributes_only(tenant_a):
    event = {
        "Event": {
            "info": "campaign",
            "threat_level_id": "1",
            "Attribute": [
                {"type": "sha256", "value": SHA, "to_ids": True, "uuid": "a1"},
                {"type": "ip-dst", "value": "198.51.100.23", "to_ids": False, "uuid": "a2"},
                {"type": "domain", "value": "misp-bad.net", "to_ids": True, "uuid": "a3"},
            ],
        }
    }
    with tenant_context(tenant_a):
        job = run(import_create(data=json.dumps(event).encode(), format="misp", enqueue=False))
        assert (job.added, job.skipped_count) == (2, 1)
        assert "to_ids is false" in job.skipped[0]["reason"]
        assert IOC.objects.get(type="domain").severity == "high"


def test_warning_listed_values_are_stored_suppressed_and_reported(tenant_a):
    with tenant_context(tenant_a):
        job = run(import_create(data=b"8.8.8.8\nevil-cdn.net\n", format="text", enqueue=False))
        assert job.added == 2
        assert [w["value"] for w in job.warnings] == ["8.8.8.8"]
        assert job.warnings[0]["lists"][0]["list"] == "public-dns-resolvers"
        assert IOC.objects.get(value="8.8.8.8").suppressed is True
        assert IOC.objects.get(value="evil-cdn.net").suppressed is False


def test_bundle_with_ten_thousand_bad_patterns_is_reported_in_full_and_imports_nothing(tenant_a):
    objects = [indicator(f"[file:size > {i}]") for i in range(10_000)]
    with tenant_context(tenant_a):
        job = run(
            import_create(data=json.dumps(bundle(*objects)).encode(), format="stix", enqueue=False)
        )
        assert (job.status, job.added, job.skipped_count) == ("succeeded", 0, 10_000)
        assert len({s["ref"] for s in job.skipped}) == 10_000
        assert IOC.objects.count() == 0


def test_malformed_stix_json_is_a_400_naming_the_line(tenant_a, api_client):
    client = api_client(tenant_a, roles.ANALYST)
    upload = io.BytesIO(b'{"type": "bundle",\n "objects": [\n  {"type": "indicator",}\n]}')
    upload.name = "feed.json"
    response = client.post(
        "/api/v1/imports/", {"file": upload, "format": "stix"}, format="multipart"
    )
    assert response.status_code == 400
    assert "malformed JSON at line 3" in response.json()["error"]["fields"]["file"]
    with tenant_context(tenant_a):
        assert ImportJob.objects.count() == 0 and IOC.objects.count() == 0


def test_upload_answers_202_at_once_and_the_job_reports_progress(
    tenant_a, api_client, django_capture_on_commit_callbacks
):
    client = api_client(tenant_a, roles.ANALYST)
    upload = io.BytesIO(stix_bundle())
    upload.name = "feed.json"
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/imports/", {"file": upload}, format="multipart")
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    job = client.get(f"/api/v1/imports/{response.json()['id']}/").json()
    assert (job["status"], job["progress"], job["added"]) == ("succeeded", 100, 5)
    assert job["skipped_count"] == 4 and len(job["skipped"]) == 4


def test_an_import_that_dies_mid_way_resumes_without_duplicates(tenant_a, monkeypatch):
    from intel.services import feeds

    values = [f"{i:064x}" for i in range(1, 2501)]
    data = "\n".join(values).encode()
    monkeypatch.setattr(feeds, "BATCH", 1000)
    real = feeds.ioc_upsert_many
    calls = {"n": 0}

    def dying(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise SystemExit("worker killed")
        return real(*args, **kwargs)

    with tenant_context(tenant_a):
        job = import_create(data=data, format="text", enqueue=False)
        monkeypatch.setattr(feeds, "ioc_upsert_many", dying)
        with pytest.raises(SystemExit):
            import_run(job=job)
        job.refresh_from_db()
        assert (job.status, job.cursor, job.added) == ("running", 1000, 1000)
        assert IOC.objects.count() == 1000  # the first batch committed, the second did not
        monkeypatch.setattr(feeds, "ioc_upsert_many", real)
        job = run(job)  # the redelivered task
        assert (job.status, job.added, job.cursor) == ("succeeded", 2500, 2500)
        assert IOC.objects.count() == 2500


def test_import_iocs_command_prints_the_summary_as_json(tenant_a, tmp_path):
    path = tmp_path / "feed.json"
    path.write_bytes(stix_bundle())
    out = io.StringIO()
    call_command("import_iocs", str(path), tenant="alpha", source="vendor", stdout=out)
    summary = json.loads(out.getvalue())
    assert summary["status"] == "succeeded" and summary["source"] == "vendor"
    assert (summary["added"], summary["updated"], summary["skipped_count"]) == (5, 0, 4)
    assert all({"ref", "reason"} <= set(s) for s in summary["skipped"])


@pytest.mark.parametrize(
    ("content", "fmt", "message"),
    [
        (b'{"type": "bundle", "objects": [}', "stix", "malformed JSON"),
        (b'{"type": "report"}', "stix", "not a STIX bundle"),
        (b"value\nx\n", "csv", None),
    ],
)
def test_import_iocs_command_fails_cleanly_on_a_broken_feed(
    tenant_a, tmp_path, content, fmt, message
):
    path = tmp_path / "feed"
    path.write_bytes(content)
    out = io.StringIO()
    if message is None:
        call_command("import_iocs", str(path), tenant="alpha", format=fmt, stdout=out)
        assert json.loads(out.getvalue())["skipped"][0]["ref"] == "row 2"
        return
    with pytest.raises(CommandError, match=message):
        call_command("import_iocs", str(path), tenant="alpha", format=fmt, stdout=out)
    assert json.loads(out.getvalue())["status"] == "failed"
    with tenant_context(tenant_a):
        assert IOC.objects.count() == 0
