"""Passkeys (WebAuthn) for sudo mode: challenges, options and the ceremony checks.

The cockpit's JavaScript asks for options (``registration_options`` / ``step_up_options``),
hands them to ``navigator.credentials``, and posts the browser's answer with the form it
belongs to; the services in ``governance.services.passkeys`` verify the answer and record it.

A challenge lives in the session (so it is bound to this session), names the user it was
issued to and what it is for, expires after ``BRAIN_PASSKEY_CHALLENGE_TTL`` and is removed
the first time an answer is checked against it (single use: a replayed answer finds no
challenge). The relying party (RP ID and the accepted origins) comes from the configuration
(``BRAIN_PASSKEY_RP_ID``, ``BRAIN_PASSKEY_ORIGINS``), never from the request's Host header.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import salted_hmac
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    AuthenticatorTransport,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from governance.models import Passkey

CHALLENGE_SESSION_KEY = "brain_passkey_challenge"
# The form field the cockpit's script fills with the browser's answer (PublicKeyCredential JSON).
ASSERTION_FIELD = "passkey_assertion"
REGISTER = "register"
STEP_UP = "step_up"
RP_NAME = "Studio Brain"
KNOWN_TRANSPORTS = {t.value for t in AuthenticatorTransport}
# Whatever the browser posts is untrusted; a real answer is a few kilobytes.
MAX_ANSWER_BYTES = 64 * 1024


class PasskeyCheckFailed(Exception):
    """The browser's answer does not prove the passkey; the message is for the audit trail."""


@dataclass(frozen=True)
class RegisteredKey:
    credential_id: bytes
    public_key: bytes
    sign_count: int
    transports: list[str]


def _challenge_issue(request: HttpRequest, purpose: str) -> bytes:
    challenge = secrets.token_bytes(32)
    expires = timezone.now() + settings.BRAIN.passkey_challenge_ttl
    request.session[CHALLENGE_SESSION_KEY] = {
        "purpose": purpose,
        "challenge": bytes_to_base64url(challenge),
        "user": request.user.pk,
        "expires": expires.isoformat(),
    }
    return challenge


def challenge_take(request: HttpRequest, purpose: str) -> bytes | None:
    """This session's challenge for ``purpose`` and this user, removed from the session; None
    when there is none, it is for something else or someone else, or it has expired."""
    stored = request.session.pop(CHALLENGE_SESSION_KEY, None)
    if not isinstance(stored, dict):
        return None
    if stored.get("purpose") != purpose or stored.get("user") != request.user.pk:
        return None
    try:
        expires = datetime.fromisoformat(stored["expires"])
        challenge = base64url_to_bytes(stored["challenge"])
    except (KeyError, TypeError, ValueError):
        return None
    if timezone.now() > expires:
        return None
    return challenge


def _timeout_ms() -> int:
    return int(settings.BRAIN.passkey_challenge_ttl.total_seconds() * 1000)


def _user_handle(user: Any) -> bytes:
    # Opaque and stable per user: WebAuthn advises against names or e-mail addresses here.
    return salted_hmac("governance.passkeys.user_handle", str(user.pk), algorithm="sha256").digest()


def _own_passkeys(request: HttpRequest) -> QuerySet[Passkey]:
    user_id = request.user.pk
    if user_id is None:
        return Passkey.objects.none()
    return Passkey.objects.filter(user_id=user_id)


def _descriptor(passkey: Passkey) -> PublicKeyCredentialDescriptor:
    return PublicKeyCredentialDescriptor(
        id=bytes(passkey.credential_id),
        transports=[AuthenticatorTransport(t) for t in passkey.transports if t in KNOWN_TRANSPORTS],
    )


def registration_options(request: HttpRequest) -> str:
    """Options (JSON) for ``navigator.credentials.create``; issues the registration challenge."""
    user = request.user
    options = generate_registration_options(
        rp_id=settings.BRAIN.passkey_rp_id,
        rp_name=RP_NAME,
        user_name=user.get_username(),
        user_id=_user_handle(user),
        challenge=_challenge_issue(request, REGISTER),
        timeout=_timeout_ms(),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=[_descriptor(p) for p in _own_passkeys(request)],
    )
    return str(options_to_json(options))


def step_up_options(request: HttpRequest) -> str | None:
    """Options (JSON) for ``navigator.credentials.get`` over the user's own passkeys; issues the
    step-up challenge. None when the user has no passkey."""
    passkeys = list(_own_passkeys(request))
    if not passkeys:
        return None
    options = generate_authentication_options(
        rp_id=settings.BRAIN.passkey_rp_id,
        challenge=_challenge_issue(request, STEP_UP),
        timeout=_timeout_ms(),
        allow_credentials=[_descriptor(p) for p in passkeys],
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return str(options_to_json(options))


def _answer(text: str) -> dict[str, Any]:
    if not text or len(text) > MAX_ANSWER_BYTES:
        raise PasskeyCheckFailed("no answer from the browser, or one far too large")
    try:
        answer = json.loads(text)
    except ValueError:
        raise PasskeyCheckFailed("the answer is not JSON") from None
    if not isinstance(answer, dict):
        raise PasskeyCheckFailed("the answer is not a JSON object")
    return answer


def answer_credential_id(text: str) -> bytes:
    """The credential id an assertion claims to come from (checked later by its signature)."""
    raw = _answer(text).get("rawId")
    if not isinstance(raw, str):
        raise PasskeyCheckFailed("the answer names no credential")
    try:
        return base64url_to_bytes(raw)
    except (TypeError, ValueError):
        raise PasskeyCheckFailed("the answer's credential id is not base64url") from None


def registration_verify(text: str, challenge: bytes) -> RegisteredKey:
    answer = _answer(text)
    try:
        verified = verify_registration_response(
            credential=answer,
            expected_challenge=challenge,
            expected_rp_id=settings.BRAIN.passkey_rp_id,
            expected_origin=list(settings.BRAIN.passkey_origins),
        )
    except (WebAuthnException, TypeError, ValueError, KeyError) as error:
        raise PasskeyCheckFailed(str(error)[:200]) from None
    response = answer.get("response")
    transports = response.get("transports", []) if isinstance(response, dict) else []
    return RegisteredKey(
        credential_id=verified.credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=[t for t in transports if t in KNOWN_TRANSPORTS]
        if isinstance(transports, list)
        else [],
    )


def assertion_verify(text: str, challenge: bytes, passkey: Passkey) -> int:
    """Check an assertion against the stored key and counter; the authenticator's new counter."""
    try:
        verified = verify_authentication_response(
            credential=_answer(text),
            expected_challenge=challenge,
            expected_rp_id=settings.BRAIN.passkey_rp_id,
            expected_origin=list(settings.BRAIN.passkey_origins),
            credential_public_key=bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count,
        )
    except (WebAuthnException, TypeError, ValueError, KeyError) as error:
        raise PasskeyCheckFailed(str(error)[:200]) from None
    return int(verified.new_sign_count)
