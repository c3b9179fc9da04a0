"""A read-only view of Firestore over google-cloud-firestore, with failures mapped onto the SDK's codes.

Only reads are reachable from here: id-ordered pages of one collection (``select`` mask,
``order_by("__name__")``, ``start_after``, ``limit``, at a ``read_time``), ``count()``
aggregations, and the list of top-level collection ids for health checks.

Retries: every call passes ``retry=NO_CLIENT_RETRY``, an explicit ``Retry`` whose
predicate retries nothing, and a per-query ``timeout``. The connector retries whole
pages through the SDK (one policy for every connector: attempts, backoff, total time, a
breaker probe gets one attempt). The explicit object is needed: google-cloud-firestore
2.34.1's default retry, and ``retry=None``, crash with ``AttributeError`` when a
``RunQuery`` stream breaks after some documents (``tests/peers/README.md``).

Credentials: a service-account JSON (the connector's ``credentials`` secret), or the
environment's default credentials; with ``FIRESTORE_EMULATOR_HOST`` set, the library
talks to that emulator without credentials.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
from google.api_core import exceptions as api_exceptions
from google.api_core.retry import Retry
from google.auth import exceptions as auth_exceptions
from google.cloud import firestore
from google.cloud.firestore_v1.vector import Vector
from google.oauth2 import service_account

from connectors.sdk.canonical import CanonicalError
from connectors.sdk.errors import ConnectorError, ErrorCode


def _never(error: Exception) -> bool:
    return False


NO_CLIENT_RETRY = Retry(predicate=_never)


@dataclass(frozen=True)
class Snapshot:
    """One document of a page: its id, its fields as plain values, its last update."""

    id: str
    fields: dict[str, Any]
    updated_at: datetime | None


class FirestoreReader:
    def __init__(
        self, *, project: str, database: str, credentials_json: str | None, timeout: float
    ) -> None:
        self.timeout = timeout
        credentials = None
        if credentials_json:
            try:
                info = json.loads(credentials_json)
                credentials = service_account.Credentials.from_service_account_info(info)
            except (ValueError, KeyError) as error:
                raise ConnectorError(
                    ErrorCode.AUTH,
                    f"the credentials secret is not a service-account JSON ({type(error).__name__})",
                ) from None
        try:
            self.firestore = firestore.Client(
                project=project or None, database=database, credentials=credentials
            )
        except auth_exceptions.GoogleAuthError as error:
            raise ConnectorError(
                ErrorCode.AUTH, f"no usable Google credentials: {type(error).__name__}"
            ) from None

    def page(
        self,
        path: str,
        mask: tuple[str, ...] | None,
        after: str | None,
        limit: int,
        read_time: datetime,
    ) -> list[Snapshot]:
        """Up to ``limit`` documents of the collection at ``path`` whose ids follow ``after``."""
        query = self.firestore.collection(path).order_by("__name__").limit(limit)
        if mask is not None:
            query = query.select(list(mask))
        if after is not None:
            query = query.start_after({"__name__": after})
        where = f"RunQuery {path}"
        try:
            return [
                Snapshot(
                    document.id,
                    plain_fields(document.to_dict() or {}),
                    _microseconds(document.update_time),
                )
                for document in query.stream(
                    retry=NO_CLIENT_RETRY, timeout=self.timeout, read_time=read_time
                )
            ]
        except Exception as error:
            raise translate(error, where) from error

    def count(self, path: str, read_time: datetime | None) -> tuple[int, datetime]:
        """The number of documents in the collection at ``path``, and the server's read time."""
        return self._aggregate(self.firestore.collection(path), path, read_time)

    def server_read_time(self, path: str) -> datetime:
        """A read time from the server itself: a count over at most one document of ``path``.

        The Python client hides the read time of an empty query result, while an
        aggregation always answers with one, so this works on empty collections too.
        """
        _count, read_time = self._aggregate(
            self.firestore.collection(path).limit(1), path, read_time=None
        )
        return read_time

    def _aggregate(self, query: Any, path: str, read_time: datetime | None) -> tuple[int, datetime]:
        where = f"RunAggregationQuery count({path})"
        try:
            results = query.count(alias="n").get(
                retry=NO_CLIENT_RETRY, timeout=self.timeout, read_time=read_time
            )
        except Exception as error:
            raise translate(error, where) from error
        try:
            result = results[0][0]
            return int(result.value), _microseconds(result.read_time) or _missing(where)
        except (IndexError, TypeError, ValueError) as error:
            raise ConnectorError(
                ErrorCode.BAD_RESPONSE, f"{where}: no count in the answer ({error})"
            ) from None

    def collection_ids(self) -> list[str]:
        """The top-level collection ids (one ``ListCollectionIds`` call): the health probe."""
        where = "ListCollectionIds"
        try:
            return [
                collection.id
                for collection in self.firestore.collections(
                    retry=NO_CLIENT_RETRY, timeout=self.timeout
                )
            ]
        except Exception as error:
            raise translate(error, where) from error


def _missing(where: str) -> datetime:
    raise ConnectorError(ErrorCode.BAD_RESPONSE, f"{where}: the answer carries no read time")


def _microseconds(value: datetime | None) -> datetime | None:
    """A server time as a plain UTC datetime, cut to microseconds (what ``read_time`` accepts)."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return datetime(
        value.year,
        value.month,
        value.day,
        value.hour,
        value.minute,
        value.second,
        value.microsecond,
        tzinfo=UTC,
    )


_SCALARS = (str, int, float, bool, type(None))


def plain(value: Any) -> Any:
    """A Firestore value as a plain Python value the brain can hash.

    Timestamps stay aware datetimes (microseconds), references become their path
    (``batches/b1``), bytes base64 text, geo points ``{latitude, longitude}``, vectors lists.
    """
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, datetime):
        return _microseconds(value)
    if isinstance(value, dict):
        return plain_fields(value)
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, firestore.DocumentReference):
        return value.path
    if isinstance(value, firestore.GeoPoint):
        return {"latitude": value.latitude, "longitude": value.longitude}
    if isinstance(value, Vector):
        return [float(item) for item in value]
    raise CanonicalError(f"Firestore value of type {type(value).__name__} has no plain form")


def plain_fields(fields: dict[str, Any]) -> dict[str, Any]:
    # Most fields are scalars: skip the call for them (this runs for every field read).
    return {
        key: value if type(value) in _SCALARS else plain(value) for key, value in fields.items()
    }


_CODES: dict[grpc.StatusCode, tuple[ErrorCode, str]] = {
    grpc.StatusCode.DEADLINE_EXCEEDED: (ErrorCode.TIMEOUT, "took longer than the timeout"),
    grpc.StatusCode.UNAVAILABLE: (ErrorCode.UNAVAILABLE, "Firestore is unavailable"),
    grpc.StatusCode.INTERNAL: (ErrorCode.UNAVAILABLE, "Firestore reported an internal error"),
    grpc.StatusCode.UNKNOWN: (ErrorCode.UNAVAILABLE, "Firestore reported an unknown error"),
    grpc.StatusCode.ABORTED: (ErrorCode.UNAVAILABLE, "Firestore aborted the read"),
    grpc.StatusCode.CANCELLED: (ErrorCode.UNAVAILABLE, "the call was cancelled"),
    grpc.StatusCode.RESOURCE_EXHAUSTED: (ErrorCode.RATE_LIMITED, "Firestore asked us to slow down"),
    grpc.StatusCode.UNAUTHENTICATED: (ErrorCode.AUTH, "Firestore refused the credentials"),
    grpc.StatusCode.PERMISSION_DENIED: (
        ErrorCode.AUTH,
        "the credentials may not read this collection",
    ),
}


def translate(error: Exception, where: str) -> ConnectorError:
    """Any failure of a call as a ``ConnectorError`` whose code says whether to retry."""
    if isinstance(error, ConnectorError):
        return error
    if isinstance(error, auth_exceptions.GoogleAuthError):
        return ConnectorError(
            ErrorCode.AUTH, f"{where}: credentials failed ({type(error).__name__})"
        )
    if isinstance(error, api_exceptions.GoogleAPICallError):
        status = error.grpc_status_code
        code, words = _CODES.get(status, (ErrorCode.BAD_RESPONSE, "Firestore refused the query"))
        name = status.name if status is not None else type(error).__name__
        return ConnectorError(code, f"{where}: {words} ({name}: {error.message})"[:500])
    if isinstance(error, api_exceptions.RetryError):
        return ConnectorError(ErrorCode.TIMEOUT, f"{where}: gave up retrying ({error.message})")
    return ConnectorError(ErrorCode.UNKNOWN, f"{where}: {type(error).__name__}: {error}"[:300])
