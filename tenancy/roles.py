"""Role names and what each may do: the one definition every app imports."""

ADMIN = "admin"  # tenant settings, users, tokens
LEAD = "lead"  # approves destructive actions, edits SLA targets
ANALYST = "analyst"  # works cases
AUDITOR = "auditor"  # reads everything, downloads reports, changes nothing
INTEGRATION = "integration"  # API token for machines; no browser
AGENT = "agent"  # an endpoint agent's credential (not a membership role)

CHOICES = [
    (ADMIN, "Admin"),
    (LEAD, "Lead"),
    (ANALYST, "Analyst"),
    (AUDITOR, "Auditor"),
    (INTEGRATION, "Integration"),
]
ALL = frozenset(role for role, _ in CHOICES)
HUMAN = ALL - {INTEGRATION}
# Who may change case-management data by default; views narrow this further.
WRITERS = frozenset({ADMIN, LEAD, ANALYST, INTEGRATION})
READERS = ALL
LEADS = frozenset({ADMIN, LEAD})
ADMINS = frozenset({ADMIN})
AUDIT_READERS = frozenset({ADMIN, AUDITOR, LEAD})
