"""Fetching a TAXII 2.1 collection with `taxii2-client`, through the outbound guard.

Every page since the source's cursor (`added_after`) is fetched before anything is written,
so a server failing on page 7 leaves nothing half-imported and the cursor where it was.
The next cursor is the server's `X-TAXII-Date-Added-Last` of the last page (the spec's
way to resume); a server that does not send it gets the poll's start time instead.

Failures are classified: timeouts, connection errors, 5xx and 429 are *transient* (the
task retries with backoff), anything else (401/403/404, not TAXII, not JSON, a refused
address) is *permanent* and recorded at once.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import requests
from taxii2client.common import _HTTPConnection
from taxii2client.exceptions import TAXIIServiceException
from taxii2client.v21 import Collection, as_pages

from intel.models import Source

from .outbound import GuardedSession, OutboundRefused

MAX_PAGES = 10_000
MAX_OBJECTS = 1_000_000


class FeedError(Exception):
    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient

    def __str__(self) -> str:
        return self.message


@dataclass
class Fetched:
    objects: list
    pages: int
    next_cursor: str


def _timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def collection_url(source: Source) -> str:
    return f"{source.url.rstrip('/')}/collections/{source.collection_id.strip('/')}/"


def fetch(source: Source, *, started: dt.datetime) -> Fetched:
    """All objects added to the collection after `source.cursor`, page by page."""
    session = GuardedSession(timeout=float(source.timeout_seconds))
    if source.username:
        session.auth = requests.auth.HTTPBasicAuth(source.username, source.password)
    conn = _HTTPConnection(version="2.1")
    conn.session.close()
    conn.session = session
    objects: list = []
    pages = 0
    last_added: str | None = None
    filters = {"added_after": source.cursor} if source.cursor else {}
    try:
        collection = Collection(collection_url(source), conn=conn)
        for envelope in as_pages(collection.get_objects, per_request=source.page_size, **filters):
            pages += 1
            if not isinstance(envelope, dict):
                raise FeedError(
                    "the server answered a page that is not a TAXII envelope", transient=False
                )
            page = envelope.get("objects", [])
            if not isinstance(page, list):
                raise FeedError("the envelope's objects are not a list", transient=False)
            objects.extend(page)
            response = session.last_response
            if response is not None and response.headers.get("X-TAXII-Date-Added-Last"):
                last_added = response.headers["X-TAXII-Date-Added-Last"]
            if pages >= MAX_PAGES or len(objects) > MAX_OBJECTS:
                raise FeedError(
                    f"the collection returned more than {MAX_PAGES} pages or {MAX_OBJECTS} "
                    "objects in one poll; lower the interval or raise the page size",
                    transient=False,
                )
    except OutboundRefused as exc:
        raise FeedError(f"refused: {exc}", transient=False) from None
    except requests.Timeout:
        raise FeedError(
            f"timed out after {source.timeout_seconds} s (page {pages + 1})", transient=True
        ) from None
    except requests.ConnectionError as exc:
        raise FeedError(f"cannot connect: {_short(exc)}", transient=True) from None
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        reason = f"HTTP {status} from {exc.request.url if exc.request else 'the server'}"
        raise FeedError(reason, transient=status >= 500 or status == 429) from None
    except requests.TooManyRedirects:
        raise FeedError(
            "the server redirects; redirects are not followed", transient=False
        ) from None
    except TAXIIServiceException as exc:
        raise FeedError(f"not a TAXII 2.1 answer: {_short(exc)}", transient=False) from None
    except (ValueError, requests.RequestException) as exc:  # JSON that does not parse, ...
        raise FeedError(f"unreadable answer: {_short(exc)}", transient=False) from None
    finally:
        session.close()
    return Fetched(objects, pages, last_added or _timestamp(started))


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= 300 else text[:299] + "…"
