"""Warning lists: benign values flagged with the list and the reason."""

import hashlib

import pytest

from intel.parsing import check
from intel.parsing.warninglists import load_warninglists


def names(ioc_type: str, value: str) -> list[str]:
    return [match.list_name for match in check(ioc_type, value)]


def test_every_list_loads_and_says_what_and_where_from():
    lists = load_warninglists()
    assert {wl.name for wl in lists} >= {
        "public-dns-resolvers",
        "private-networks",
        "loopback-link-local",
        "multicast-broadcast",
        "documentation-values",
        "vendor-domains",
        "shared-hosting-domains",
        "empty-file-hashes",
        "common-file-names",
    }
    for wl in lists:
        assert wl.reason and wl.source, wl.name


def test_the_empty_file_hashes_are_the_hashes_of_zero_bytes():
    for algorithm in ("md5", "sha1", "sha256"):
        assert names(algorithm, hashlib.new(algorithm, b"").hexdigest()) == ["empty-file-hashes"]


@pytest.mark.parametrize(
    ("ioc_type", "value", "expected"),
    [
        ("ipv4", "8.8.8.8", ["public-dns-resolvers"]),
        ("ipv4", "1.1.1.1", ["public-dns-resolvers"]),
        ("ipv4", "9.9.9.9", ["public-dns-resolvers"]),
        ("ipv6", "2001:4860:4860::8888", ["public-dns-resolvers"]),
        ("ipv4", "10.20.30.40", ["private-networks"]),
        ("ipv4", "172.31.0.1", ["private-networks"]),
        ("ipv4", "127.0.0.1", ["loopback-link-local"]),
        ("ipv4", "169.254.169.254", ["loopback-link-local"]),
        ("ipv6", "fe80::1", ["loopback-link-local"]),
        ("ipv4", "239.255.255.250", ["multicast-broadcast"]),
        ("ipv4", "255.255.255.255", ["multicast-broadcast"]),
        ("ipv4", "203.0.113.9", ["documentation-values"]),
        ("ipv4", "::ffff:8.8.4.4", ["public-dns-resolvers"]),
        ("cidr", "8.8.8.0/24", ["public-dns-resolvers"]),
        ("cidr", "10.1.0.0/16", ["private-networks"]),
        ("ipv4", "93.184.215.14", []),
        ("domain", "login.microsoftonline.com", ["vendor-domains"]),
        ("domain", "Download.WindowsUpdate.com", ["vendor-domains"]),
        ("domain", "dns.google", ["public-dns-resolvers"]),
        ("domain", "amazonaws.com", ["shared-hosting-domains"]),
        ("domain", "raw.githubusercontent.com", ["shared-hosting-domains"]),
        ("domain", "evil-bucket.s3.amazonaws.com", []),
        ("domain", "www.example.com", ["documentation-values"]),
        ("domain", "c2.test", ["documentation-values"]),
        ("domain", "microsoft.com.evil.example", ["documentation-values"]),
        ("url", "https://www.microsoft.com/download", ["vendor-domains"]),
        ("url", "https://raw.githubusercontent.com/evil/repo/payload.ps1", []),
        ("url", "http://192.168.1.10/admin", ["private-networks"]),
        ("file_name", "C:\\Windows\\System32\\SVCHOST.EXE", ["common-file-names"]),
        ("file_name", "svchost32.exe", []),
        ("md5", "not a hash", []),
        ("cmdline", "powershell -enc", []),
    ],
)
def test_values_on_a_list_are_flagged(ioc_type, value, expected):
    assert names(ioc_type, value) == expected


def test_a_match_carries_the_reason():
    (match,) = check("ipv4", "8.8.8.8")
    assert "public DNS resolver" in match.reason
