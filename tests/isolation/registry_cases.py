"""The cases app in the isolation harness: every API resource and every page taking an id."""

from django.core.files.uploadedfile import SimpleUploadedFile

from cases.models import Alert, Case, Evidence, Note, SavedFilter, Task, Webhook, WebhookDelivery
from cases.services import (
    evidence_upload,
    grouping_rules_ensure,
    note_create,
    saved_filter_save,
    webhook_create,
    webhook_ping,
)
from tests.cases.factories import make_alert, make_case
from tests.factories import MembershipFactory
from tests.isolation.harness import api, page


def make_task() -> Task:
    return Task.objects.filter(case=make_case()).first()


def make_note() -> Note:
    return note_create(case=make_case(), body="isolation marker")


def make_evidence() -> Evidence:
    return evidence_upload(case=make_case(), upload=SimpleUploadedFile("m.txt", b"marker"))


def make_rule():
    return grouping_rules_ensure()[0]


def make_webhook() -> Webhook:
    return webhook_create(name="iso", url="https://8.8.8.8/hook", events=["case.created"])[0]


def make_delivery() -> WebhookDelivery:
    return webhook_ping(webhook=make_webhook())


def make_saved_filter() -> SavedFilter:
    from tenancy.context import current_tenant

    user = MembershipFactory(tenant=current_tenant()).user
    return saved_filter_save(user=user, name="iso", query="status=open")


def make_open_alert() -> Alert:
    return make_alert()


def make_open_case() -> Case:
    return make_case()


api("alert", factory=make_open_alert, actions=["acknowledge", "dismiss", "promote"])
api(
    "case",
    factory=make_open_case,
    actions=[
        "transition",
        "scope-done",
        "reopen",
        "correct-milestone",
        "assign",
        "pause",
        "resume",
        "merge",
        "split",
        "link",
    ],
)
api("task", factory=make_task)
api("note", factory=make_note)
api("evidence", factory=make_evidence)
api("grouping-rule", factory=make_rule)
api("webhook", factory=make_webhook, actions=["rotate-secret", "ping"])
api("webhook-delivery", factory=make_delivery, actions=["redeliver"])

page("cases:alert-detail", factory=make_open_alert)
page("cases:alert-action", factory=make_open_alert, methods=("get", "post"))
page("cases:case-detail", factory=make_open_case)
page("cases:case-edit", factory=make_open_case)
page("cases:case-action", factory=make_open_case)
page("cases:task-toggle", factory=make_task)
page("cases:note-edit", factory=make_note)
page("cases:evidence-download", factory=make_evidence)
page("cases:saved-filter-delete", factory=make_saved_filter)
page("cases:grouping-rule-edit", factory=make_rule)
page("cases:webhook-detail", factory=make_webhook)
page("cases:webhook-redeliver", factory=make_delivery)
