"""`python manage.py import_iocs --tenant SLUG PATH [--format stix|csv|misp|text] [--source NAME]`

Imports a feed file in this process (no worker needed) through the same import job the
browser and the API use, and prints the summary as JSON: added, updated, unchanged, and
every skipped object, row, line or comparison with its reason. Exits 1 when the feed as a
whole is unusable (malformed JSON, not a bundle, a mapped CSV column missing) — nothing is
imported then.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from intel.services import guess_format, import_file, import_summary
from tenancy.context import tenant_context
from tenancy.management.commands._helpers import get_tenant


class Command(BaseCommand):
    help = "Import IOCs from a STIX 2.1 bundle, CSV, MISP event JSON or plain list; prints JSON."

    def add_arguments(self, parser):
        parser.add_argument("path", help="the feed file ('-' reads standard input)")
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--format", choices=["stix", "csv", "misp", "text"])
        parser.add_argument("--source", default="", help="source name (default: the file name)")
        parser.add_argument(
            "--mapping",
            default="",
            help='CSV column mapping as JSON, e.g. {"value": "indicator", "type": "kind"}',
        )

    def handle(self, *args, path, tenant, format=None, source="", mapping="", **options):
        tenant_obj = get_tenant(tenant)
        if path == "-":
            data, filename = sys.stdin.buffer.read(), "stdin"
        else:
            file = Path(path)
            if not file.is_file():
                raise CommandError(f"no such file: {path}")
            data, filename = file.read_bytes(), file.name
        try:
            options_ = {"mapping": json.loads(mapping)} if mapping else {}
        except ValueError as exc:
            raise CommandError(f"--mapping is not JSON: {exc}") from None
        fmt = format or guess_format(filename, data)
        with tenant_context(tenant_obj):
            try:
                job = import_file(
                    data=data,
                    format=fmt,
                    source_name=source or filename,
                    filename=filename,
                    options=options_,
                )
            except ValidationError as exc:
                summary = {
                    "status": "failed",
                    "format": fmt,
                    "error": " ".join(exc.messages),
                    "added": 0,
                    "updated": 0,
                    "skipped": [],
                }
                self.stdout.write(json.dumps(summary, indent=2))
                raise CommandError(summary["error"]) from None
            summary = import_summary(job)
        self.stdout.write(json.dumps(summary, indent=2, default=str))
        if job.status != "succeeded":
            raise CommandError(job.error or "the import failed")
