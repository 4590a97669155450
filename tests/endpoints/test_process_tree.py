"""Process trees rebuilt from parent pids and start times, with pid reuse."""

from __future__ import annotations

import datetime as dt

import pytest

from endpoints.models import Observation
from endpoints.selectors import process_tree
from endpoints.services import telemetry_ingest
from tenancy import roles
from tenancy.context import tenant_context

pytestmark = pytest.mark.django_db

T0 = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)


def proc(event_id, pid, ppid, name, seconds, *, kind="process_event", action="start"):
    when = T0 + dt.timedelta(seconds=seconds)
    record = {
        "kind": kind,
        "event_id": event_id,
        "observed_at": when,
        "started_at": when,
        "pid": pid,
        "ppid": ppid,
        "process_name": name,
        "process_path": rf"c:\windows\{name}",
        "command_line": f"{name} --run {event_id}",
    }
    if action:
        record["action"] = action
    return record


STORY = [
    proc("old-200", 200, 4, "updater.exe", -50),  # an earlier process that had pid 200
    proc("explorer-snap", 100, 4, "explorer.exe", 0, kind="process", action=None),
    proc("explorer", 100, 4, "explorer.exe", 0),  # the same process, as a start event
    proc("word", 200, 100, "winword.exe", 10),
    proc("cmd", 300, 200, "cmd.exe", 20),
    proc("ps", 400, 300, "powershell.exe", 30),
    proc("conhost", 404, 300, "conhost.exe", 31),
    proc("whoami", 500, 400, "whoami.exe", 40),
    proc("cmd-exit", 300, 200, "cmd.exe", 90, action="stop"),
    proc("notepad", 300, 100, "notepad.exe", 100),  # pid 300 reused
    proc("late-child", 600, 300, "calc.exe", 110),  # child of notepad, not of cmd
]


@pytest.fixture
def story(tenant_a, enrol_agent):
    endpoint = enrol_agent(tenant_a, hostname="ws-tree").endpoint
    with tenant_context(tenant_a):
        telemetry_ingest(endpoint=endpoint, records=STORY, enqueue=False)
        return {o.event_id: o for o in Observation.objects.filter(endpoint=endpoint)}


def _shape(node, depth=0):
    lines = [f"{'  ' * depth}{node.name}:{node.pid}{' *' if node.chosen else ''}"]
    for child in node.children:
        lines += _shape(child, depth + 1)
    return lines


def test_the_tree_shows_ancestors_and_descendants_of_the_chosen_process(tenant_a, story):
    with tenant_context(tenant_a):
        tree = process_tree(story["cmd"])
    assert _shape(tree.root) == [
        "explorer.exe:100",
        "  winword.exe:200",
        "    cmd.exe:300 *",
        "      powershell.exe:400",
        "        whoami.exe:500",
        "      conhost.exe:404",
    ]
    assert (tree.ancestors, tree.descendants) == (2, 3)
    assert tree.chosen.ended_at == T0 + dt.timedelta(seconds=90)


def test_a_reused_pid_starts_a_new_process(tenant_a, story):
    with tenant_context(tenant_a):
        tree = process_tree(story["late-child"])
    assert _shape(tree.root) == ["explorer.exe:100", "  notepad.exe:300", "    calc.exe:600 *"]


def test_choosing_a_descendant_shows_the_chain_up(tenant_a, story):
    with tenant_context(tenant_a):
        tree = process_tree(story["whoami"])
    assert [line.strip() for line in _shape(tree.root)] == [
        "explorer.exe:100",
        "winword.exe:200",
        "cmd.exe:300",
        "powershell.exe:400",
        "whoami.exe:500 *",
    ]


def test_a_record_without_a_process_has_no_tree(tenant_a, story, enrol_agent):
    with tenant_context(tenant_a):
        dns = Observation(kind="dns", pid=None)
        assert process_tree(dns) is None


def test_the_tree_page_renders_the_tree(tenant_a, story, web_client):
    client = web_client(tenant_a, roles.ANALYST)
    html = client.get(
        client.url(f"endpoints/observations/{story['cmd'].pk}/tree/")
    ).content.decode()
    assert html.index("explorer.exe") < html.index("winword.exe") < html.index("powershell.exe")
    assert 'class="chosen"' in html and "calc.exe" not in html
