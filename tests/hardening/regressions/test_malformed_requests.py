"""Django's own refusals of a malformed request answer in the error format, and the
schema documents them (fuzzer findings).

- A multipart body of more than `DATA_UPLOAD_MAX_NUMBER_FIELDS` fields raised Django's
  `TooManyFieldsSent` past DRF: the answer was Django's HTML "Bad Request (400)" page.
- `?search=` with a NUL byte is a 400 from DRF's SearchFilter, which the schema did not
  list for operations whose only query parameters were search, ordering and paging.
"""

from __future__ import annotations

from django.conf import settings

from tenancy import roles
from tests.hardening import fuzzing


def test_too_many_multipart_fields_is_a_400_in_the_error_format(world):
    fields = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1
    response, findings = fuzzing.replay(
        "POST",
        "/api/v1/bulk-actions/",
        headers={"Authorization": world.a.auth(roles.ADMIN)},
        body={"type": "isolate_endpoint", "endpoints": [1] * fields},
        media_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"
    assert findings == []


def test_a_nul_byte_in_search_is_a_documented_400(world):
    response, findings = fuzzing.replay(
        "GET",
        "/api/v1/reputation-providers/",
        headers={"Authorization": world.a.auth(roles.ADMIN)},
        query={"search": "vt\x00"},
    )
    assert response.status_code == 400
    assert findings == []
