"""Re-export of ``connectors.sdk.canonical``, the project's one canonical JSON.

Kept so modules not yet switched over keep importing ``brain.canonical`` (governance's
services and selectors, cockpit's API); new code imports ``connectors.sdk.canonical``.
Nothing is defined here: see docs/adr/0006-canonical-json.md.
"""

from connectors.sdk.canonical import (
    CanonicalError,
    canonical_hash,
    canonical_json,
    canonical_text,
    contains_nul,
    format_time,
    normalize,
)

__all__ = [
    "CanonicalError",
    "canonical_hash",
    "canonical_json",
    "canonical_text",
    "contains_nul",
    "format_time",
    "normalize",
]
