"""A small Maker API client over httpx. It maps every transport failure onto the SDK's codes.

The token travels as ``access_token`` in the query string because that is how the
Maker API authenticates; it is added per request (never baked into a logged base URL),
and every message or diagnostic this module builds names the path only.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from connectors.sdk.errors import ConnectorError, ErrorCode

W = TypeVar("W", bound=BaseModel)


class MakerApiClient:
    def __init__(
        self,
        *,
        host: str,
        app_id: int,
        token: str,
        timeout: float,
        max_connections: int,
        redact: Callable[[str], str],
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self._token = token
        self._redact = redact
        self._http = httpx.Client(
            base_url=f"{host}/apps/api/{app_id}",
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            follow_redirects=False,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    # -- endpoints -------------------------------------------------------------------

    def devices(self) -> list[Any]:
        return self._list("/devices")

    def devices_all(self) -> list[Any]:
        return self._list("/devices/all")

    def device(self, device_id: str) -> Any:
        return self.get_json(f"/devices/{_segment(device_id)}")

    def device_events(self, device_id: str) -> list[Any]:
        return self._list(f"/devices/{_segment(device_id)}/events")

    def command(self, device_id: str, command: str, secondary: str | None = None) -> Any:
        path = f"/devices/{_segment(device_id)}/{_segment(command)}"
        if secondary is not None:
            path += f"/{_segment(secondary)}"
        return self.get_json(path)

    # -- transport -------------------------------------------------------------------

    def _list(self, path: str) -> list[Any]:
        data = self.get_json(path)
        if not isinstance(data, list):
            raise ConnectorError(
                ErrorCode.BAD_RESPONSE,
                f"GET {path} answered a {type(data).__name__}, not a list",
                diagnostic=self._redact(json.dumps(data, default=str)[:200]),
            )
        return data

    def get_json(self, path: str) -> Any:
        where = f"GET {path}"
        try:
            response = self._http.get(path, params={"access_token": self._token})
        except httpx.TimeoutException:
            raise ConnectorError(
                ErrorCode.TIMEOUT, f"{where} took longer than the timeout"
            ) from None
        except httpx.ConnectError as error:
            raise ConnectorError(
                ErrorCode.UNAVAILABLE, f"{where}: cannot connect ({_reason(error)})"
            ) from None
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError) as error:
            raise ConnectorError(
                ErrorCode.UNAVAILABLE, f"{where}: connection dropped ({_reason(error)})"
            ) from None
        except httpx.HTTPError as error:
            raise ConnectorError(
                ErrorCode.UNAVAILABLE, self._redact(f"{where}: {_reason(error)}")
            ) from None
        body = response.content
        status = response.status_code
        diagnostic = self._redact(body[:200].decode("utf-8", errors="replace"))
        if status in (401, 403):
            raise ConnectorError(
                ErrorCode.AUTH, f"{where}: the hub refused the token (HTTP {status})", status=status
            )
        if status == 429:
            raise ConnectorError(
                ErrorCode.RATE_LIMITED,
                f"{where}: the hub asked us to slow down (HTTP 429)",
                retry_after=_retry_after(response),
                status=status,
            )
        if status >= 500:
            raise ConnectorError(
                ErrorCode.UNAVAILABLE,
                f"{where}: the hub answered HTTP {status}",
                diagnostic=diagnostic,
                status=status,
            )
        if status != 200:
            raise ConnectorError(
                ErrorCode.BAD_RESPONSE,
                f"{where}: unexpected HTTP {status}",
                diagnostic=diagnostic,
                status=status,
            )
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise ConnectorError(
                ErrorCode.BAD_RESPONSE,
                f"{where}: the body is not valid JSON ({error})",
                diagnostic=diagnostic,
            ) from None

    def parse(self, model: type[W], data: Any, where: str) -> W:
        try:
            return model.model_validate(data)
        except ValidationError as error:
            raise _shape_error(where, error, data, self._redact) from None

    def parse_list(self, model: type[W], data: list[Any], where: str) -> list[W]:
        try:
            return TypeAdapter(list[model]).validate_python(data)  # type: ignore[valid-type]
        except ValidationError as error:
            raise _shape_error(where, error, data, self._redact) from None


def _shape_error(
    where: str, error: ValidationError, data: Any, redact: Callable[[str], str]
) -> ConnectorError:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"]) or "(root)"
    return ConnectorError(
        ErrorCode.BAD_RESPONSE,
        f"{where}: unexpected shape at {location}: {first['msg']}",
        diagnostic=redact(json.dumps(data, default=str)[:200]),
    )


def _segment(value: str) -> str:
    """One path segment: device ids and commands are never allowed to add path or query."""
    text = str(value)
    if not text or any(ch in text for ch in "/?#&%") or text in (".", ".."):
        raise ConnectorError(ErrorCode.UNKNOWN, f"{text!r} is not a valid device id or command")
    return text


def _reason(error: Exception) -> str:
    cause = error.__cause__ or error.__context__
    return type(cause).__name__ if cause is not None else type(error).__name__


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("Retry-After")
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None
