"""The default playbooks: what a SOC does, phase by phase, as task templates.

A tenant starts with these (created lazily and idempotently by `ensure_templates()` the
first time a case needs them; a lead can then retitle, reorder or deactivate them). When a
case is opened, or moves to a further phase, the templates of its phase become tasks —
never twice for the same case (a unique constraint on case x template).

`is_remediation` marks the steps that make the endpoint clean: response actions (and the
"remediated" transition in the browser) check that every remediation task is done.
`due_minutes` counts from the moment the task is created.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    description: str
    due_minutes: int | None = None
    is_remediation: bool = False


PLAYBOOKS: dict[str, tuple[Step, ...]] = {
    "initial_infection": (
        Step(
            "trace-process-tree",
            "Trace the process tree on the first endpoint",
            "From the alerting process up to its root (Office, browser, script host, service) "
            "and down to everything it spawned, wrote or connected to.",
            due_minutes=30,
        ),
        Step(
            "search-hash",
            "Search the hash enterprise-wide",
            "Sweep every endpoint for the file hash (and its name and path); attach the hits "
            'to the case. When done, this is what "scoping done" means.',
            due_minutes=60,
        ),
        Step(
            "identify-vector",
            "Identify the delivery vector",
            "Mail attachment, download, removable drive, exploited service: find the first "
            "artefact and block it at the source (mail gateway, proxy).",
            due_minutes=120,
        ),
        Step(
            "kill-quarantine",
            "Kill the process / quarantine the file",
            "On every affected endpoint; isolate the endpoint if the process keeps coming back.",
            due_minutes=120,
        ),
        Step(
            "patch-endpoint",
            "Patch the endpoint",
            "Close the vulnerability or configuration gap the code used to run.",
            due_minutes=24 * 60,
            is_remediation=True,
        ),
        Step(
            "verify-clean",
            "Rescan and confirm the endpoint is clean",
            "Full scan, no new detection for the hash or its behaviour over 24 hours.",
            is_remediation=True,
        ),
    ),
    "persistence": (
        Step(
            "stack-autoruns",
            "List autoruns and stack them across the fleet",
            "Services, scheduled tasks, run keys, WMI subscriptions, COM objects: the rare "
            "ones on this endpoint are the suspects.",
            due_minutes=60,
        ),
        Step(
            "identify-mechanism",
            "Identify the persistence mechanism and its payload",
            "Which autorun, which binary or script it starts, and when it was created.",
            due_minutes=120,
        ),
        Step(
            "search-artefact",
            "Search the fleet for the same persistence artefact",
            "Same service name, task name, registry value or payload hash on other endpoints.",
            due_minutes=120,
        ),
        Step(
            "isolate-if-beaconing",
            "Isolate the endpoint if the payload beacons out",
            "Check network connections of the payload; isolate before removing anything.",
            due_minutes=240,
        ),
        Step(
            "remove-persistence",
            "Remove the persistence mechanism and its payload",
            "Delete the autorun and the files it starts, on every affected endpoint.",
            due_minutes=24 * 60,
            is_remediation=True,
        ),
        Step(
            "verify-after-reboot",
            "Reboot and verify the persistence does not come back",
            "After a reboot, the autorun and payload are gone and no detection fires again.",
            is_remediation=True,
        ),
    ),
    "lateral_movement": (
        Step(
            "identify-accounts",
            "Identify the accounts used",
            "Network logons (type 3/10) from the first endpoint, with their source hosts; "
            "privileged accounts first.",
            due_minutes=30,
        ),
        Step(
            "map-hosts",
            "Map every host reached from the first endpoint",
            "PsExec services, WMI remote execution, remote scheduled tasks, mounted admin "
            "shares: list each destination host and link it to the case.",
            due_minutes=60,
        ),
        Step(
            "isolate-hosts",
            "Isolate the affected endpoints",
            "Every host the attacker reached, after collecting volatile evidence.",
            due_minutes=120,
        ),
        Step(
            "check-exfiltration",
            "Check for data staging and exfiltration",
            "New archives or encrypted files in user or staging paths; large outbound transfers.",
            due_minutes=240,
        ),
        Step(
            "reset-accounts",
            "Disable or reset the compromised accounts",
            "Passwords, Kerberos tickets (krbtgt twice if a domain admin was used), API keys.",
            due_minutes=8 * 60,
            is_remediation=True,
        ),
        Step(
            "remove-remote-artefacts",
            "Remove remote services and scheduled tasks created on each host",
            "Everything the movement left behind, host by host.",
            due_minutes=24 * 60,
            is_remediation=True,
        ),
        Step(
            "review-groups",
            "Review privileged group changes",
            "`net group` / `net user /add` activity: remove accounts the attacker created or "
            "added to admin groups.",
            due_minutes=24 * 60,
            is_remediation=True,
        ),
    ),
}
