"""Normalisation of each IOC type: the canonical spelling, and the reason when refused."""

import pytest

from intel.parsing import (
    IOC_TYPES,
    InvalidIOC,
    compile_cmdline,
    detect_type,
    normalize,
    normalize_address,
    normalize_ioc,
    refang,
)

EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def refused(ioc_type: str, value: str) -> InvalidIOC:
    with pytest.raises(InvalidIOC) as caught:
        normalize(ioc_type, value)
    return caught.value


def test_type_names_are_the_public_contract():
    assert IOC_TYPES == (
        "md5",
        "sha1",
        "sha256",
        "ipv4",
        "ipv6",
        "cidr",
        "domain",
        "url",
        "file_name",
        "file_path",
        "registry_key",
        "cmdline",
        "header_bytes",
        "yara",
    )


def test_unknown_type_is_refused_on_the_type_field():
    error = refused("hash", "abc")
    assert error.field == "type"
    assert "unknown IOC type 'hash'" in error.message


# --- hashes ---


@pytest.mark.parametrize(
    ("ioc_type", "value", "expected"),
    [
        ("md5", " D41D8CD98F00B204E9800998ECF8427E ", "d41d8cd98f00b204e9800998ecf8427e"),
        (
            "sha1",
            "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
            "da39a3ee5e6b4b0d3255bfef95601890afd80709",
        ),
        ("sha256", EMPTY_SHA256.upper(), EMPTY_SHA256),
    ],
)
def test_hashes_are_lower_case_hex(ioc_type, value, expected):
    assert normalize(ioc_type, value) == expected


def test_hash_of_wrong_length_says_expected_and_actual_length():
    error = refused("sha256", EMPTY_SHA256[:63])
    assert error.field == "value"
    assert error.message == "sha256 must be 64 hex characters, got 63"


def test_hash_with_a_non_hex_character_names_it_and_its_position():
    assert "'g' at position 3 is not a hex digit" in refused("md5", "abg" + "0" * 29).message


# --- IP addresses and networks ---


def test_ips_are_canonical():
    assert normalize("ipv4", " 192.0.2.1 ") == "192.0.2.1"
    assert normalize("ipv6", "2001:DB8:0:0::1") == "2001:db8::1"
    assert normalize("ipv6", "[2001:db8::1]") == "2001:db8::1"


def test_ipv4_with_leading_zeros_is_refused_as_ambiguous():
    assert "Leading zeros" in refused("ipv4", "010.1.1.1").message


def test_ipv4_mapped_ipv6_is_an_ipv4_ioc():
    assert normalize("ipv4", "::ffff:192.0.2.1") == "192.0.2.1"
    assert "stored as ipv4 192.0.2.1" in refused("ipv6", "::ffff:192.0.2.1").message
    assert normalize_ioc("ipv6", "::ffff:192.0.2.1") == ("ipv4", "192.0.2.1")


def test_ip_family_mismatch_says_which_type_to_use():
    assert "use type ipv6" in refused("ipv4", "2001:db8::1").message
    assert "use type ipv4" in refused("ipv6", "192.0.2.1").message
    assert "use type cidr" in refused("ipv4", "192.0.2.0/24").message


def test_cidr_is_the_canonical_network():
    assert normalize("cidr", "10.0.0.0/255.0.0.0") == "10.0.0.0/8"
    assert normalize("cidr", "2001:DB8::/32") == "2001:db8::/32"
    assert normalize("cidr", "192.0.2.7") == "192.0.2.7/32"
    assert normalize("cidr", "::ffff:10.0.0.0/104") == "10.0.0.0/8"


def test_cidr_with_host_bits_is_refused_naming_both_readings():
    message = refused("cidr", "10.1.2.3/8").message
    assert "host bits set" in message
    assert "10.0.0.0/8" in message
    assert "10.1.2.3" in message


@pytest.mark.parametrize("value", ["0.0.0.0/0", "10.0.0.0/7", "2000::/3"])
def test_cidr_broader_than_the_limit_is_refused(value):
    assert "too broad" in refused("cidr", value).message


@pytest.mark.parametrize("value", ["10.0.0.0/33", "10.0.0/8", "not a network", "fe80::/64%eth0"])
def test_invalid_cidr_is_refused(value):
    refused("cidr", value)


def test_normalize_address_types_by_shape():
    assert normalize_address("192.0.2.1") == ("ipv4", "192.0.2.1")
    assert normalize_address("2001:db8::1") == ("ipv6", "2001:db8::1")
    assert normalize_address("::ffff:192.0.2.1") == ("ipv4", "192.0.2.1")
    assert normalize_address("192.0.2.0/24") == ("cidr", "192.0.2.0/24")


# --- domains and URLs ---


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Evil.Example.COM.", "evil.example.com"),
        ("Bücher.example", "xn--bcher-kva.example"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
        ("пример.рф", "xn--e1afmkfd.xn--p1ai"),
        ("evil[.]example(.)com", "evil.example.com"),
        ("*.evil.example", "evil.example"),
        ("my_host.duckdns.org", "my_host.duckdns.org"),
    ],
)
def test_domains_are_lower_case_punycode_without_trailing_dot(value, expected):
    assert normalize("domain", value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("localhost", "at least two labels"),
        ("evil..example", "empty label"),
        ("192.0.2.1", "use type ipv4"),
        ("http://evil.example/", "use type url"),
        ("evil.example:443", "no port"),
        ("a" * 64 + ".example", "longer than 63"),
        ("evil!.example", "may only contain"),
        ("xn--zz-.example", "punycode"),
        ("evil.123", "ends in a number"),
    ],
)
def test_invalid_domains_say_why(value, reason):
    assert reason in refused("domain", value).message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("HTTP://Evil.Example:80/a/b?x=1#frag", "http://evil.example/a/b?x=1"),
        ("https://evil.example:443", "https://evil.example/"),
        ("https://evil.example:8443/", "https://evil.example:8443/"),
        ("http://evil.example/%7euser/%2f%2F/a b", "http://evil.example/~user/%2F%2F/a%20b"),
        ("http://evil.example/caf\u00e9?q=\u00e9", "http://evil.example/caf%C3%A9?q=%C3%A9"),
        ("http://evil.example/100%", "http://evil.example/100%25"),
        ("hxxps://evil[.]example/gate.php", "https://evil.example/gate.php"),
        ("http://B\u00fccher.example/", "http://xn--bcher-kva.example/"),
        ("http://[2001:DB8::1]:8080/x", "http://[2001:db8::1]:8080/x"),
        ("http://[::ffff:192.0.2.1]/x", "http://192.0.2.1/x"),
        ("http://intranet/x?", "http://intranet/x"),
        (
            "http://evil.example/cgi-bin/../../etc/passwd",
            "http://evil.example/cgi-bin/../../etc/passwd",
        ),
    ],
)
def test_urls_are_normalised(value, expected):
    assert normalize("url", value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("evil.example/gate.php", "add http:// or https://"),
        ("http:///path", "no host"),
        ("http://evil.example:99999/", "port"),
        ("http://[2001:db8::1/", "unclosed"),
        ("http://999.1.1.1/", "not an IPv4 address"),
    ],
)
def test_invalid_urls_say_why(value, reason):
    assert reason in refused("url", value).message


# --- files, registry, command lines, header bytes ---


def test_file_name_is_the_lower_case_basename():
    assert normalize("file_name", r"C:\Users\Bob\INVOICE.pdf.exe") == "invoice.pdf.exe"
    assert normalize("file_name", "/tmp/Payload") == "payload"
    assert normalize("file_name", "invoice_*.exe") == "invoice_*.exe"


@pytest.mark.parametrize(
    ("value", "reason"),
    [("*.exe", "too broad"), ("C:\\temp\\", "no file name"), ("..", "not a file name")],
)
def test_invalid_file_names_say_why(value, reason):
    assert reason in refused("file_name", value).message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("C:/Users/Public/Evil.exe", r"c:\users\public\evil.exe"),
        (r"C:\Windows\\System32\\x.dll", r"c:\windows\system32\x.dll"),
        (r"\\?\C:\Windows\x.dll", r"c:\windows\x.dll"),
        (r"\??\C:\Windows\x.dll", r"c:\windows\x.dll"),
        (r"\\?\UNC\Server\Share\x.exe", r"\\server\share\x.exe"),
        (r"\\Server\Share\x.exe", r"\\server\share\x.exe"),
        (r"%APPDATA%\Microsoft\x.exe", r"%appdata%\microsoft\x.exe"),
        (r"*\AppData\Local\Temp\*.exe", r"*\appdata\local\temp\*.exe"),
        ("/tmp//.X11/Miner", "/tmp/.x11/miner"),
    ],
)
def test_file_paths_are_lower_case_with_windows_backslashes(value, expected):
    assert normalize("file_path", value) == expected


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("evil.exe", "use type file_name"),
        (r"c:\temp" + "\\", r"end it with \*"),
        (r"Users\Public\x.exe", "must be absolute"),
        (r"c:\*\*.exe", "too broad"),
        ("c:\\x\x07y\\z", "control characters"),
    ],
)
def test_invalid_file_paths_say_why(value, reason):
    assert reason in refused("file_path", value).message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (r"HKEY_LOCAL_MACHINE\Software\Run\Evil", r"hklm\software\run\evil"),
        (r"HKEY_CURRENT_USER\Software\x", r"hkcu\software\x"),
        (r"HKEY_USERS\S-1-5-21-1\Software", r"hku\s-1-5-21-1\software"),
        (r"HKEY_CLASSES_ROOT\CLSID\{X}", r"hkcr\clsid\{x}"),
        (r"HKLM\\Software\\", r"hklm\software"),
        (r"\REGISTRY\MACHINE\SOFTWARE\x", r"hklm\software\x"),
        (r"\Registry\User\S-1-5-18\x", r"hku\s-1-5-18\x"),
        (
            r"*\Software\Microsoft\Windows\CurrentVersion\Run\evil",
            r"*\software\microsoft\windows\currentversion\run\evil",
        ),
    ],
)
def test_registry_keys_use_lower_case_hive_abbreviations(value, expected):
    assert normalize("registry_key", value) == expected


def test_registry_key_without_hive_is_refused():
    assert "must start with a hive" in refused("registry_key", r"Software\Evil").message


def test_cmdline_substring_is_lower_case_and_matches_case_insensitively():
    value = normalize("cmdline", "PowerShell -EncodedCommand")
    assert value == "powershell -encodedcommand"
    matches = compile_cmdline(value)
    assert matches("POWERSHELL -EncodedCommand SQBFAFgA")
    assert not matches("cmd.exe /c dir")


def test_cmdline_regex_is_kept_verbatim_and_runs_in_re2():
    value = normalize("cmdline", r"re:powershell(\.exe)?\s+-e(nc)?\s")
    assert value == r"re:powershell(\.exe)?\s+-e(nc)?\s"
    assert compile_cmdline(value)("POWERSHELL.EXE -enc abc")
    assert normalize("cmdline", "RE:abc+") == "re:abc+"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("re:(a)\\1", "back-references"),
        ("re:(?=x)y", "look-around"),
        ("re:.*", "matches an empty command line"),
        ("re:(unclosed", "invalid regular expression"),
        ("ab", "too short"),
    ],
)
def test_invalid_cmdlines_say_why(value, reason):
    assert reason in refused("cmdline", value).message


def test_header_bytes_are_lower_case_hex_of_whole_bytes():
    assert normalize("header_bytes", "4D 5A 90 00") == "4d5a9000"
    assert normalize("header_bytes", "0x504B0304") == "504b0304"
    assert normalize("header_bytes", "7f:45:4c:46") == "7f454c46"
    assert "even number" in refused("header_bytes", "4d5").message
    assert "at most 16 bytes" in refused("header_bytes", "00" * 17).message
    assert "hex digits" in refused("header_bytes", "MZ").message


def test_yara_is_validated_and_stored_with_unix_newlines():
    rule = 'rule demo {\r\n  strings: $a = "evil"\r\n  condition: $a\r\n}\r\n'
    assert normalize("yara", rule) == 'rule demo {\n  strings: $a = "evil"\n  condition: $a\n}'


# --- shared rules ---


@pytest.mark.parametrize("ioc_type", IOC_TYPES)
def test_empty_nul_and_surrogate_values_are_refused_for_every_type(ioc_type):
    assert "empty" in refused(ioc_type, "   ").message
    assert "NUL" in refused(ioc_type, "a\x00b").message
    assert "Unicode" in refused(ioc_type, "a\ud800b").message


def test_non_text_value_is_refused():
    with pytest.raises(InvalidIOC, match="must be text"):
        normalize("md5", 123)  # type: ignore[arg-type]


# --- detection and refanging ---


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("d41d8cd98f00b204e9800998ecf8427e", "md5"),
        ("DA39A3EE5E6B4B0D3255BFEF95601890AFD80709", "sha1"),
        (EMPTY_SHA256, "sha256"),
        ("deadbeef", None),
        ("192.0.2.1", "ipv4"),
        ("::ffff:192.0.2.1", "ipv4"),
        ("2001:db8::1", "ipv6"),
        ("192.0.2.0/24", "cidr"),
        ("10.1.2.3/8", "cidr"),
        ("https://evil.example/x", "url"),
        ("hxxp://evil[.]example", "url"),
        ("evil.example", "domain"),
        ("evil[.]example", "domain"),
        ("b\u00fccher.example", "domain"),
        ("one.one.one.one", "domain"),
        ("invoice.pdf.exe", "file_name"),
        ("Invoice 2024.zip", "file_name"),
        (r"C:\Windows\evil.exe", "file_path"),
        (r"\\server\share\x.exe", "file_path"),
        (r"%APPDATA%\x.exe", "file_path"),
        ("/tmp/.x/miner", "file_path"),
        (r"HKLM\Software\Run", "registry_key"),
        (r"HKEY_CURRENT_USER\Software", "registry_key"),
        ("powershell -enc abc", None),
        ("", None),
    ],
)
def test_detect_type_by_shape(value, expected):
    assert detect_type(value) == expected


def test_refang_undoes_the_usual_conventions():
    assert refang("hxxps[:]//evil[.]example(.)com/a[.]php") == "https://evil.example.com/a.php"
    assert refang("h**p://evil{.}example[dot]com") == "http://evil.example.com"
    assert refang("192[.]0[.]2[.]1") == "192.0.2.1"
    assert refang("fxp[://]files.example") == "ftp://files.example"
