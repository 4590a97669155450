"""The SSRF guard: only public addresses unless allowlisted, no redirects, pinned address."""

import http.server
import json
import threading
from unittest import mock

import pytest

from tenancy import outbound
from tenancy.outbound import OutboundRefused, check_url, post_json


@pytest.fixture
def receiver():
    """A local HTTP server recording what it receives; answers with `status`."""
    seen: list[dict] = []
    state = {"status": 204, "headers": {}}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            seen.append({"path": self.path, "headers": dict(self.headers), "body": body})
            self.send_response(state["status"])
            for key, value in state["headers"].items():
                self.send_header(key, value)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    server.seen, server.state = seen, state
    server.url = f"http://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://localhost:6379/",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://192.168.0.1/",
        "http://172.16.0.1/",
        "http://100.64.0.1/",
        "http://0.0.0.0/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fe80::1]/",
        "http://224.0.0.1/",
        "http://240.0.0.1/",
    ],
)
def test_non_public_addresses_are_refused(url):
    with pytest.raises(OutboundRefused):
        check_url(url)


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "file:///etc/passwd", "http://user:pw@example.com/", "//x", ""]
)
def test_bad_urls_are_refused(url):
    with pytest.raises(OutboundRefused):
        check_url(url)


def test_a_name_resolving_to_a_private_address_is_refused():
    with (
        mock.patch.object(outbound, "_resolve", return_value=["93.184.216.34", "10.0.0.5"]),
        pytest.raises(OutboundRefused, match=r"10\.0\.0\.5"),
    ):
        check_url("https://hooks.example/")


def test_public_addresses_pass():
    with mock.patch.object(outbound, "_resolve", return_value=["93.184.216.34"]):
        target = check_url("https://hooks.example:8443/a?b=1")
    assert (target.host, target.port, target.path) == ("hooks.example", 8443, "/a?b=1")


def test_the_allowlist_admits_a_host_or_a_network(receiver):
    with pytest.raises(OutboundRefused):
        post_json(receiver.url, {"a": 1})
    for allow in (["127.0.0.1"], ["127.0.0.0/8"], ["LOCALHOST"]):
        url = (
            receiver.url.replace("127.0.0.1", "localhost")
            if allow == ["LOCALHOST"]
            else (receiver.url)
        )
        response = post_json(url + "/hook", {"a": 1}, {"X-T": "1"}, allowlist=allow)
        assert response.status == 204
    sent = receiver.seen[-1]
    assert json.loads(sent["body"]) == {"a": 1}
    assert sent["headers"]["Content-Type"] == "application/json"
    assert sent["headers"]["X-T"] == "1"


def test_redirects_are_not_followed(receiver):
    receiver.state.update(status=302, headers={"Location": "http://169.254.169.254/"})
    response = post_json(receiver.url, b"{}", allowlist=["127.0.0.1"])
    assert response.status == 302 and not response.ok
    assert len(receiver.seen) == 1


def test_the_connection_goes_to_the_checked_address(receiver):
    """DNS answering differently at connect time cannot redirect the request."""
    calls = []

    def resolve(host, port):
        calls.append(host)
        return ["127.0.0.1"]

    with mock.patch.object(outbound, "_resolve", side_effect=resolve):
        url = receiver.url.replace("127.0.0.1", "hooks.example")
        response = post_json(url, b"{}", allowlist=["127.0.0.1"])
    assert response.ok and calls == ["hooks.example"]
    assert receiver.seen[-1]["headers"]["Host"].startswith("hooks.example:")


def test_the_tenant_allowlist_setting(tenant_a):
    tenant_a.settings = {"tenancy": {"outbound_allowlist": ["10.0.0.0/8", "hooks.internal"]}}
    assert outbound.allowlist_for(tenant_a) == ["10.0.0.0/8", "hooks.internal"]
    tenant_a.settings = {"tenancy": {"outbound_allowlist": "not a list"}}
    assert outbound.allowlist_for(tenant_a) == []
