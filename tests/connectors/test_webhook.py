"""The webhook sender against a real receiver on loopback: signature, and which failures are
worth retrying."""

from __future__ import annotations

import pytest

from connectors.webhook.client import WebhookError, webhook_post, webhook_signature
from tests.peers.notify_peers import free_port, signature_is_valid


def test_a_signed_post_is_accepted_by_a_receiver_that_checks_it(webhook_peer):
    body = b'{"text":"hello"}'
    assert (
        webhook_post(url=webhook_peer.url, body=body, secret=webhook_peer.secret, timeout=5) == 200
    )
    (request,) = webhook_peer.requests
    assert request.signature_valid and request.body == body
    assert request.headers["content-type"] == "application/json"


def test_a_wrong_secret_is_refused_by_the_receiver_and_not_retried(webhook_peer):
    with pytest.raises(WebhookError) as error:
        webhook_post(url=webhook_peer.url, body=b"{}", secret="not-the-secret", timeout=5)
    assert error.value.permanent and "answered HTTP 401" in str(error.value)


@pytest.mark.parametrize(
    ("status", "permanent"),
    [(500, False), (503, False), (429, False), (408, False), (404, True), (410, True)],
)
def test_which_answers_are_retried(webhook_peer, status, permanent):
    webhook_peer.status = status
    with pytest.raises(WebhookError) as error:
        webhook_post(url=webhook_peer.url, body=b"{}", secret=webhook_peer.secret, timeout=5)
    assert error.value.permanent is permanent


def test_an_unreachable_receiver_is_a_transient_error_naming_the_host_only():
    url = f"http://127.0.0.1:{free_port()}/services/T1/B2/token-in-path"
    with pytest.raises(WebhookError) as error:
        webhook_post(url=url, body=b"{}", secret="s3cret-value", timeout=2)
    assert not error.value.permanent
    assert "could not reach 127.0.0.1:" in str(error.value)
    assert "token-in-path" not in str(error.value) and "s3cret" not in str(error.value)


def test_the_signature_covers_the_timestamp_and_the_body():
    headers = {
        "x-studiobrain-timestamp": "1764745200",
        "x-studiobrain-signature": webhook_signature("k", "1764745200", b"{}"),
    }
    assert signature_is_valid("k", headers, b"{}", now=1764745200)
    assert not signature_is_valid("k", headers, b"{ }", now=1764745200)
    assert not signature_is_valid(
        "k", {**headers, "x-studiobrain-timestamp": "1764745201"}, b"{}", now=1764745200
    )
    assert not signature_is_valid("k", headers, b"{}", now=1764745200 + 301)  # a replay
