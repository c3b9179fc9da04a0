"""Agent API tokens: ``sbk_<prefix>_<secret>``.

The prefix (8 hex characters) is stored in clear and finds the token's row; the secret
(32 random bytes, url-safe base64) is never stored. The row keeps sha256 of the whole token.
A fast hash is enough here, unlike for passwords: the secret is 256 random bits, so
guessing it is hopeless however fast each guess is, and every API call pays the hash.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

SCHEME = "sbk"
PREFIX_BYTES = 4
SECRET_BYTES = 32
TOKEN_RE = re.compile(r"^sbk_([0-9a-f]{8})_([A-Za-z0-9_-]{43})$")


@dataclass(frozen=True)
class IssuedToken:
    prefix: str
    text: str  # the whole token: shown once, then forgotten
    token_hash: str


def token_hash(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def token_generate() -> IssuedToken:
    prefix = secrets.token_hex(PREFIX_BYTES)
    text = f"{SCHEME}_{prefix}_{secrets.token_urlsafe(SECRET_BYTES)}"
    return IssuedToken(prefix=prefix, text=text, token_hash=token_hash(text))


def token_prefix(text: str) -> str | None:
    """The lookup prefix of a well-formed token, else None (nothing is looked up for junk)."""
    match = TOKEN_RE.match(text or "")
    return match.group(1) if match else None


def token_matches(text: str, stored_hash: str) -> bool:
    """Constant-time comparison of the token's hash with the stored one."""
    return hmac.compare_digest(token_hash(text), stored_hash)
