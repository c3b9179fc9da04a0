"""The Stripe connector: one resource per read, every page of a created-since window.

``read(ReadQuery(resource="payment_intents", params={"since": <unix time>}))`` lists the
objects created at or after ``since`` (default: ``window_days`` ago), following
``has_more`` / ``starting_after`` page by page. A page is the retry unit: a 429 on page 7
waits (the server's Retry-After, else exponential backoff) and asks for page 7 again; it
does not start the list over. The window is asked of the server as ``created[gte]`` and
also applied to what comes back, so it holds against a server that ignores the filter;
resources listed in ``created_filter_unsupported`` are read in full and filtered here.
Order is not relied on (localstripe lists some resources oldest first).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.sdk.base import Connector
from connectors.sdk.errors import ConnectorError, ErrorCode
from connectors.sdk.registry import register
from connectors.sdk.schemas import Availability, HealthReport, ReadQuery, ReadResult, Record
from connectors.stripe.client import StripeReader
from connectors.stripe.schemas import DROPPED_FIELDS, RESOURCES, StripeSettings

# A list that never ends is a server bug; 10,000 pages of 100 is far beyond any studio.
MAX_PAGES = 10_000


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    since: int | None = Field(None, ge=0, description="Unix time; objects created at or after it.")
    scan_limit: int | None = Field(None, ge=1)


@register
class StripeConnector(Connector):
    kind = "stripe"
    version = "1.0"
    settings_model = StripeSettings
    secret_keys = ("api_key",)
    read_resources = RESOURCES
    description = "Stripe with a restricted read key: payments, refunds, disputes, payouts."
    settings: StripeSettings

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.client = StripeReader(
            api_key=self.secrets["api_key"],
            api_base=self.settings.api_base,
            timeout=self.settings.timeout,
        )

    def _health(self) -> HealthReport:
        objects, _more = self.retry(self.client.page, "payment_intents", {"limit": 1})
        return HealthReport(
            availability=Availability.HEALTHY,
            detail=f"Stripe answered a payment intents list ({len(objects)} on the first page)",
        )

    def _read(self, query: ReadQuery) -> ReadResult:
        try:
            spec = ListQuery.model_validate(query.params)
        except ValidationError as error:
            first = error.errors()[0]
            raise ConnectorError(
                ErrorCode.UNKNOWN, f"bad read parameters at {first['loc']}: {first['msg']}"
            ) from None
        resource = query.resource
        since = (
            spec.since
            if spec.since is not None
            else int(time.time()) - self.settings.window_days * 86400
        )
        params: dict[str, Any] = {"limit": self.settings.page_size}
        if resource not in self.settings.created_filter_unsupported:
            params["created"] = {"gte": since}
        records: list[Record] = []
        seen: set[str] = set()
        truncated = False
        after: str | None = None
        for _page in range(MAX_PAGES):
            page_params = {**params, "starting_after": after} if after else params
            objects, more = self.retry(self.client.page, resource, page_params)
            fresh = [obj for obj in objects if obj.get("id") not in seen]
            if objects and not fresh:
                raise ConnectorError(
                    ErrorCode.BAD_RESPONSE,
                    f"GET {resource} list: the page after {after!r} repeats objects already read "
                    "(the server ignores starting_after)",
                )
            for obj in fresh:
                seen.add(str(obj.get("id")))
                if _created(obj) < since:
                    continue
                records.append(
                    Record(
                        collection=resource,
                        id=str(obj["id"]),
                        fields={k: v for k, v in obj.items() if k not in DROPPED_FIELDS},
                        updated_at=datetime.fromtimestamp(_created(obj), UTC),
                    )
                )
            if spec.scan_limit is not None and len(records) > spec.scan_limit:
                records, truncated = records[: spec.scan_limit], True
                break
            if not more or not objects:
                break
            after = str(objects[-1]["id"])
        else:
            raise ConnectorError(
                ErrorCode.BAD_RESPONSE, f"GET {resource} list: more than {MAX_PAGES} pages"
            )
        return ReadResult(
            resource=resource, read_at=datetime.now(UTC), records=records, truncated=truncated
        )


def _created(obj: dict[str, Any]) -> int:
    created = obj.get("created")
    if not isinstance(created, int) or isinstance(created, bool):
        raise ConnectorError(
            ErrorCode.BAD_RESPONSE,
            f"{obj.get('object', 'object')} {obj.get('id')!r} has no integer created time",
        )
    return created


__all__ = ["StripeConnector"]
