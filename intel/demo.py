"""Demo data for `seed_demo`: a small threat feed that knows the intrusion the endpoints demo
played (its planted hashes, file names, domain and address), a few analyst IOCs, a
tenant allowlist entry, and a finished sweep whose hits became alerts and a case.
Idempotent: a tenant that has the demo feed is left alone. Runs in a second or two."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid

from django.utils import timezone

from .models import Source
from .services import (
    allowlist_add,
    import_file,
    ioc_create,
    source_for_name,
    sweep_launch,
    sweep_run_inline,
)

FEED = "Demo threat feed"
YARA_RULE = """rule Demo_Svchost32_Implant
{
    meta:
        description = "the demo intrusion's implant masquerading as svchost"
    strings:
        $name = "svchost32" nocase
        $stage = "/stage2" ascii
    condition:
        uint16(0) == 0x5A4D and all of them
}"""


def _planted(tenant):
    """The IOCs of the intrusion the endpoints demo played for this tenant, if any."""
    try:
        from bench.datagen import generate_fleet, intrusion_scenario
        from endpoints.demo import DEFAULT_FLEET, FLEETS
    except ImportError:
        return None
    count, variant = FLEETS.get(tenant.slug, DEFAULT_FLEET)
    fleet = generate_fleet(count, 7, f"{tenant.slug}.example")
    return intrusion_scenario(fleet, timezone.now(), 7, variant=variant).iocs


def _indicator(pattern: str, name: str, **extra) -> dict:
    stamp = "2026-11-01T08:00:00.000Z"
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, pattern)}",
        "created": stamp,
        "modified": stamp,
        "name": name,
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": stamp,
        **extra,
    }


def _bundle(planted) -> bytes:
    phase = [{"kill_chain_name": "mitre-attack", "phase_name": "execution"}]
    objects = [
        _indicator(
            f"[file:hashes.'SHA-256' = '{value}']",
            "Implant (SHA-256)",
            confidence=90,
            kill_chain_phases=phase,
            labels=["malicious-activity"],
        )
        for value in sorted(planted.sha256)
    ]
    objects += [
        _indicator(f"[file:hashes.MD5 = '{value}']", "Implant (MD5)", confidence=80)
        for value in sorted(planted.md5)
    ]
    objects += [
        _indicator(f"[file:name = '{name}']", "Dropped file name", confidence=60)
        for name in sorted(planted.file_names)
    ]
    objects += [
        _indicator(
            "[domain-name:value = 'updates-check.invalid-cdn.net']", "Old C2", confidence=40
        ),
        _indicator("[url:value = 'http://203.0.113.99/gate.php']", "Panel", confidence=50),
        # Shown in the import summary as not importable (needs two observations).
        _indicator("[ipv4-addr:value = '198.51.100.10'] FOLLOWEDBY [file:name = 'a.exe']", "Seq"),
        {
            "type": "malware",
            "spec_version": "2.1",
            "id": "malware--6b6b3f4e-1d1a-4e7b-9a8e-1f3c",
            "created": "2026-11-01T08:00:00.000Z",
            "modified": "2026-11-01T08:00:00.000Z",
            "name": "Svchost32 RAT",
            "is_family": True,
        },
    ]
    return json.dumps(
        {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
    ).encode()


def seed(tenant, stdout) -> None:
    if Source.objects.filter(name=FEED).exists():
        stdout.write(f"intel: {tenant.slug} already has the demo feed, left alone")
        return
    started = time.monotonic()
    planted = _planted(tenant)
    feed = source_for_name(FEED)
    if planted is not None:
        job = import_file(
            data=_bundle(planted), format="stix", source_name=FEED, filename="demo-feed.json"
        )
        # The feed's C2 domain and address sit in reserved (documentation) ranges, which
        # the warning lists flag; the demo's analyst knows they are the real attacker here.
        c2 = [("domain", v) for v in sorted(planted.domains)]
        c2 += [("ipv4", v) for v in sorted(planted.ips)]
        for kind, value in c2:
            ioc_create(
                type=kind,
                value=value,
                source=feed,
                severity="high",
                force=True,
                tags=["svchost32-rat"],
                retro_hunt=False,
            )
        summary = f"feed: {job.added} IOCs, {job.skipped_count} skipped; "
    else:
        summary = ""
    ioc_create(
        type="cmdline",
        value=r"re:-enc(odedcommand)?\s+[a-z0-9+/=]{40,}",
        severity="high",
        phase="initial_infection",
        attack_techniques=["T1059.001"],
        description="PowerShell with a long encoded command",
        retro_hunt=False,
    )
    ioc_create(type="yara", value=YARA_RULE, severity="critical", retro_hunt=False)
    ioc_create(
        type="ipv4",
        value="8.8.8.8",
        retro_hunt=False,
        description="a feed listed Google DNS: kept, but suppressed by the warning list",
    )
    allowlist_add(type="domain", value=f"{tenant.slug}.example", reason="our own domain")
    sweep = sweep_launch(
        name="Demo: all active IOCs, last 7 days",
        window_start=timezone.now() - dt.timedelta(days=7),
        dispatch=False,
    )
    sweep = sweep_run_inline(sweep=sweep)
    stdout.write(
        f"intel: {tenant.slug}: {summary}sweep #{sweep.pk} {sweep.status} with "
        f"{sweep.hits_count} hits on {sweep.endpoints_scanned} endpoints "
        f"in {time.monotonic() - started:.1f} s"
    )
