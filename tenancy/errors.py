"""The one error format: {"error": {"code", "message", "fields"}} with the right status.

DRF exceptions pass through `api_exception_handler`; Django-level failures on /api/ paths
(404 for unknown URLs, 500, 413 for oversized bodies, 503 when the database is down)
are answered in the same shape by the handlers and the middleware below.

The database being unreachable is a 503 with `Retry-After` wherever it surfaces: in a DRF
view (the handler), in a browser view (the middleware: a plain HTML page that touches
neither the database nor the session), or in a middleware before any view (the session,
the user, the tenant look-up: `config.urls.handler500` asks `database_unavailable`). The
connection itself recovers by Django's health check (`CONN_HEALTH_CHECKS`) at the next
request; no process restart is needed. A full disk is a 507 (`storage_error`).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, ValidationError
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, HttpResponse, JsonResponse
from django.template import loader
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from .context import TenantContextMissing

logger = logging.getLogger("stopclock.errors")


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_code = "precondition_failed"
    default_detail = "The object changed since you read it (stale If-Match)."


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"
    default_detail = "The request body is too large."


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "unavailable"
    default_detail = "A backing service is unavailable; retry shortly."


class InsufficientStorage(exceptions.APIException):
    status_code = status.HTTP_507_INSUFFICIENT_STORAGE
    default_code = "insufficient_storage"
    default_detail = "There is not enough disk space to store this file; nothing was saved."


RETRY_AFTER_SECONDS = 5
DB_ERRORS = (OperationalError, InterfaceError)


def storage_error(exc: OSError) -> exceptions.APIException:
    """What to answer when writing a file failed: 507 for a full disk or quota, else 503."""
    import errno

    logger.error("storage write failed: %s", exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return InsufficientStorage()
    return ServiceUnavailable("File storage is unavailable; nothing was saved. Retry shortly.")


def error_body(code: str, message: str, fields: dict[str, Any] | None = None) -> dict:
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten(detail: Any) -> Any:
    """DRF's ErrorDetail trees as plain strings, lists and dicts."""
    if isinstance(detail, dict):
        return {str(key): _flatten(value) for key, value in detail.items()}
    if isinstance(detail, list):
        flat = [_flatten(item) for item in detail]
        if all(isinstance(item, str) for item in flat):
            return " ".join(flat)
        return flat
    return str(detail)


def _from_django_validation(exc: ValidationError) -> exceptions.ValidationError:
    if hasattr(exc, "error_dict"):
        return exceptions.ValidationError(
            {k: [str(m) for e in v for m in e] for k, v in exc.error_dict.items()}
        )
    return exceptions.ValidationError({"non_field_errors": exc.messages})


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ValidationError):
        exc = _from_django_validation(exc)
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, DB_ERRORS):
        logger.warning("database unavailable: %s", exc)
        exc = ServiceUnavailable()
    elif isinstance(exc, TenantContextMissing):
        logger.error("tenant context missing in API view", exc_info=exc)
        return None
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        if not isinstance(fields, dict):
            fields = {"non_field_errors": fields}
        message = "Invalid input: " + ", ".join(sorted(fields)) if fields else "Invalid input."
        response.data = error_body("invalid", message, fields)
    else:
        detail = getattr(exc, "detail", None)
        codes = exc.get_codes() if hasattr(exc, "get_codes") else None
        code = codes if isinstance(codes, str) else getattr(exc, "default_code", "error")
        if isinstance(exc, Http404):
            code = "not_found"
        response.data = error_body(code, _flatten(detail) if detail is not None else str(exc))
    if isinstance(exc, ServiceUnavailable):
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def is_api(request) -> bool:
    return request.path.startswith("/api/")


def json_404(request, exception=None):
    return JsonResponse(error_body("not_found", "Not found."), status=404)


def json_500(request):
    return JsonResponse(error_body("server_error", "Internal server error."), status=500)


def database_unavailable(request, exc: BaseException | None = None) -> HttpResponse:
    """503 + Retry-After: the error format on /api/, a static page in the browser."""
    logger.warning("database unavailable on %s: %s", request.path, exc)
    if is_api(request):
        response = JsonResponse(
            error_body("unavailable", "The database is unavailable; retry shortly."), status=503
        )
    else:
        # A static template: rendering must not need the database (no context processors).
        response = HttpResponse(loader.get_template("503.html").render(), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class ApiErrorMiddleware:
    """Django-level failures on /api/ answered in the error format (outside DRF views)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if isinstance(exception, DB_ERRORS):
            return database_unavailable(request, exception)
        if not is_api(request):
            return None
        if isinstance(exception, RequestDataTooBig):
            return JsonResponse(error_body("too_large", str(exception)), status=413)
        if isinstance(exception, PermissionDenied):
            return JsonResponse(error_body("permission_denied", str(exception)), status=403)
        if isinstance(exception, Http404):
            return json_404(request)
        if isinstance(exception, DatabaseError):
            logger.exception("database error on %s", request.path)
        return None
