"""The fleet: realistic, unique, deterministic, and always able to host the scenario."""

from __future__ import annotations

import ipaddress
import json
import re
from collections import Counter

import pytest

from bench.datagen import catalog, find_endpoint, generate_fleet

WINDOWS_VERSION = re.compile(
    r"^Windows (10 Enterprise 22H2 \(10\.0\.19045|11 Enterprise 23H2 \(10\.0\.22631"
    r"|11 Enterprise 24H2 \(10\.0\.26100|Server 2019 Standard \(10\.0\.17763"
    r"|Server 2022 Standard \(10\.0\.20348)\.\d{4}\)$"
)
OTHER_VERSIONS = re.compile(
    r"^(macOS 1[45]\.\d+(\.\d+)? \(2[34][A-Z]\d+\)|Ubuntu 2[24]\.04\.\d LTS \(.+\)"
    r"|Red Hat Enterprise Linux 9\.\d \(Plow\) \(.+\))$"
)


def test_same_seed_gives_the_same_fleet_and_another_seed_another():
    assert generate_fleet(200, 5) == generate_fleet(200, 5)
    assert [e.agent_id for e in generate_fleet(200, 5)] != [
        e.agent_id for e in generate_fleet(200, 6)
    ]


def test_fleet_has_an_enterprise_mix():
    fleet = generate_fleet(2000, 1)
    families = Counter(e.os_family for e in fleet)
    assert 0.75 <= families["windows"] / 2000 <= 0.85
    assert 0.05 <= families["macos"] / 2000 <= 0.15
    assert all(e.is_server for e in fleet if e.os_family == "linux")
    roles = Counter(e.role for e in fleet)
    for role in ("domain_controller", "file_server", "sql_server", "web_server"):
        assert roles[role] >= 1


def test_identities_are_unique():
    fleet = generate_fleet(3000, 2)
    for attribute in ("hostname", "fqdn", "agent_id", "primary_ip", "primary_user"):
        values = [getattr(e, attribute) for e in fleet if getattr(e, attribute)]
        assert len(values) == len(set(values)), attribute
    macs = [m for e in fleet for m in e.mac_addresses]
    assert len(macs) == len(set(macs))


def test_addresses_are_private_and_each_site_has_its_own_range():
    fleet = generate_fleet(500, 3)
    ranges: dict[str, set[str]] = {}
    for e in fleet:
        for ip in e.ip_addresses:
            assert ipaddress.ip_address(ip).is_private
        ranges.setdefault(e.site, set()).add(".".join(e.primary_ip.split(".")[:2]))
    assert all(len(prefixes) == 1 for prefixes in ranges.values()), ranges
    assert len({p for prefixes in ranges.values() for p in prefixes}) == len(ranges)


def test_os_versions_are_real_releases():
    for e in generate_fleet(1000, 4):
        pattern = WINDOWS_VERSION if e.os_family == "windows" else OTHER_VERSIONS
        assert pattern.match(e.os_version), e.os_version
        assert e.os_build in e.os_version


def test_servers_and_it_machines_accept_privileged_logons_and_others_do_not():
    for e in generate_fleet(800, 5):
        expected = e.is_server or e.department == "IT"
        assert e.privileged_admin_logons is expected, e.hostname
        if e.department == "IT":
            assert "IT-Admins" in e.user_groups


def test_hostnames_follow_the_naming_convention():
    for e in generate_fleet(800, 6):
        assert re.match(
            r"^(WS-[A-Z]{2,3}-\d{4}|MBP-[a-z]+\d*|SRV-[A-Z]+-\d{2,3}|lnx-[a-z0-9]+-\d{2,3})$",
            e.hostname,
        ), e.hostname
        assert e.fqdn == f"{e.hostname.lower()}.acme.example"


@pytest.mark.parametrize("n", range(2, 13))
def test_small_fleets_keep_what_the_scenario_needs(n):
    fleet = generate_fleet(n, 7)
    assert len(fleet) == n
    assert find_endpoint(fleet, "SRV-FILE-01").os_family == "windows"
    assert any(e.os_family == "windows" and e.role == "workstation" for e in fleet)
    if n >= 3:
        assert fleet[0].hostname == "SRV-DC-01"


def test_tenant_domain_names_hosts_and_is_lower_cased():
    fleet = generate_fleet(30, 8, tenant_domain="Globex.Example")
    assert {e.domain for e in fleet} == {"globex.example"}
    assert all(e.fqdn.endswith(".globex.example") for e in fleet)
    assert fleet[0].netbios_domain == "globex"


@pytest.mark.parametrize("n", [50, 3000])
def test_each_rare_package_is_on_one_to_three_endpoints(n):
    fleet = generate_fleet(n, 9)
    for package in catalog.RARE_PACKAGES:
        holders = [e for e in fleet if package.key in e.software]
        assert 1 <= len(holders) <= 3, (package.key, len(holders))


def test_to_dict_is_json_ready_and_leaves_out_the_peers():
    data = generate_fleet(5, 10)[0].to_dict()
    assert "infra" not in data
    assert json.loads(json.dumps(data))["hostname"] == "SRV-DC-01"
