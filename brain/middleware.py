"""Request id and request metrics, outermost in the middleware stack."""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse

from brain import metrics
from brain.context import REQUEST_ID_HEADER, accept_request_id


class RequestIdMiddleware:
    """Accept a well-formed inbound X-Request-ID (else make one), bind it to every log line
    of the request, and echo it on the response.

    The id stays bound until ``request_finished``: Django logs 4xx responses ("Not Found: ...")
    after the middleware chain has returned, and those lines must carry the id too.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # META directly: building request.headers costs more than the whole id check.
        request_id = accept_request_id(request.META.get("HTTP_X_REQUEST_ID"))
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request_id
        match = getattr(request, "resolver_match", None)
        route = match.view_name if match and match.view_name else "unmatched"
        metrics.observe_request(
            request.method or "GET", route, response.status_code, time.perf_counter() - started
        )
        return response


def _forget_request_context(**_: object) -> None:
    structlog.contextvars.clear_contextvars()


request_finished.connect(
    _forget_request_context, dispatch_uid="brain.middleware.forget_request_context"
)
