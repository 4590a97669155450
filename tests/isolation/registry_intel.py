from intel.models import (
    IOC,
    AllowlistEntry,
    FileScan,
    Hit,
    ImportJob,
    Reputation,
    ReputationProvider,
    Source,
    Sweep,
)
from intel.services import (
    allowlist_add,
    import_create,
    reputation_record_many,
    source_create,
    sweep_launch,
)
from intel.services.reputation import ReputationInput
from tenancy.context import current_tenant
from tests.intel.factories import make_hit, make_ioc
from tests.isolation.harness import api, page

SHA = "e3b1c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


def make_ioc_row() -> IOC:
    return make_ioc("sha256", SHA, tags=["isolation"])


def make_source() -> Source:
    return source_create(name=f"isolation feed {current_tenant().slug}")


def make_import() -> ImportJob:
    return import_create(data=b"evil-isolation.example\n", format="text", enqueue=False)


def make_sweep() -> Sweep:
    return sweep_launch(selection="adhoc", adhoc_values=["isolation-sweep.example"])


def make_hit_row() -> Hit:
    return make_hit(make_ioc_row())


def make_reputation() -> Reputation:
    reputation_record_many([ReputationInput("sha256", SHA, "malicious", 40, 70, "isolation")])
    return Reputation.objects.get(hash=SHA)


def make_allowlist_entry() -> AllowlistEntry:
    return allowlist_add(type="domain", value="isolation-allowed.example", reason="ours")


def make_provider() -> ReputationProvider:
    return ReputationProvider.objects.create(name="isolation", base_url="https://vt.example/api")


def make_file_scan() -> FileScan:
    return FileScan.objects.create(target="sample", filename="x.bin", status="succeeded")


api("ioc", factory=make_ioc_row, actions=["expire", "suppression"])
api("source", factory=make_source, actions=["poll"])
api("import-job", factory=make_import)
api("sweep", factory=make_sweep, actions=["cancel", "resume"])
api("hit", factory=make_hit_row, writable=False)
api("reputation", factory=make_reputation)
api("allowlist-entry", factory=make_allowlist_entry)
api("reputation-provider", factory=make_provider)
api("file-scan", factory=make_file_scan)
page("intel:ioc-detail", factory=make_ioc_row)
page("intel:ioc-expire", factory=make_ioc_row)
page("intel:ioc-suppression", factory=make_ioc_row)
page("intel:import-detail", factory=make_import)
page("intel:import-progress", factory=make_import)
page("intel:source-detail", factory=make_source)
page("intel:source-edit", factory=make_source)
page("intel:source-poll", factory=make_source)
page("intel:sweep-detail", factory=make_sweep)
page("intel:sweep-progress", factory=make_sweep)
page("intel:sweep-cancel", factory=make_sweep)
page("intel:sweep-resume", factory=make_sweep)
page("intel:allowlist-remove", factory=make_allowlist_entry)
