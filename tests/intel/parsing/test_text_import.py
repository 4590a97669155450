"""Plain lists: one value per line, comments, blank lines, defanged values."""

from intel.parsing import parse_text


def test_values_are_detected_line_by_line_and_comments_ignored():
    text = (
        "# IOCs from the incident report\n"
        "\n"
        "hxxps://evil[.]example/gate.php\n"
        "  198.51.100[.]7   # C2 server\n"
        "D41D8CD98F00B204E9800998ECF8427E\n"
        "evil(.)example\n"
        "2001:db8::1\n"
        "C:\\Users\\Public\\evil.exe\n"
        "HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\evil\n"
        "http://evil.example/#not-a-comment\n"
    )
    result = parse_text(text)
    assert [(c.type, c.value) for c in result.candidates] == [
        ("url", "https://evil.example/gate.php"),
        ("ipv4", "198.51.100.7"),
        ("md5", "d41d8cd98f00b204e9800998ecf8427e"),
        ("domain", "evil.example"),
        ("ipv6", "2001:db8::1"),
        ("file_path", "c:\\users\\public\\evil.exe"),
        ("registry_key", "hkcu\\software\\microsoft\\windows\\currentversion\\run\\evil"),
        ("url", "http://evil.example/"),
    ]
    assert result.candidates[1].description == "C2 server"
    assert result.candidates[1].original_value == "198.51.100[.]7"
    assert result.skipped == []


def test_lines_that_are_not_iocs_are_skipped_with_their_line_number():
    text = "evil.example\nnot an ioc\r\n10.1.2.3/8\nd41d8cd98f00b204e9800998ecf8427\n"
    result = parse_text(text)
    assert [c.value for c in result.candidates] == ["evil.example"]
    assert [s.ref for s in result.skipped] == ["line 2", "line 3", "line 4"]
    assert result.skipped[0].reason == "cannot tell what kind of IOC 'not an ioc' is"
    assert "has host bits set" in result.skipped[1].reason
    assert result.skipped[2].reason == (
        "'d41d8cd98f00b204e9800998ecf8427' looks like a hash but has 31 hex digits "
        "(md5 has 32, sha1 40, sha256 64)"
    )


def test_an_empty_list_is_an_empty_result():
    result = parse_text(b"")
    assert result.candidates == [] and result.skipped == []
