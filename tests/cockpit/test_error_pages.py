"""Staff never see Django's debug pages: 400, 403 (role and CSRF), 404 and 500 are the
cockpit's own, with DEBUG off as `make run` runs it, and the bare ones name the request id."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from brain.embedded import runtime_env

pytestmark = pytest.mark.django_db

PRINCIPLES = ["Cloud authoritative", "Local proposes", "Writes require approval"]


def assert_cockpit_page(html: str, heading: str) -> None:
    assert f"<h1>{heading}</h1>" in html
    assert "cockpit/cockpit.css" in html
    for principle in PRINCIPLES:
        assert f'<li class="pill">{principle}</li>' in html
    # Nothing of Django's technical pages.
    assert "Traceback" not in html and "DEBUG = True" not in html and "technical" not in html
    assert "style=" not in html


def request_id_shown(html: str) -> str:
    found = re.search(r"Request id <code>([^<]+)</code>", html)
    assert found, "no request id on the page"
    return found.group(1)


def test_make_run_leaves_debug_off_so_these_pages_are_what_staff_see(tmp_path):
    env = runtime_env(
        {}, database_url="postgres://db/x", redis_url="redis://r/0", secret_key_file=None
    )

    assert env.get("DJANGO_DEBUG", "false") == "false"
    assert settings.DEBUG is False


def test_an_unknown_address_is_the_cockpits_404(login, staff):
    response = login(staff.viewer).get("/no/such/page/")

    assert response.status_code == 404
    assert_cockpit_page(response.content.decode(), "Not found")


def test_an_anonymous_404_is_the_same_calm_page(client):
    response = client.get("/s/north-kiln/anything/")

    assert response.status_code == 404
    assert_cockpit_page(response.content.decode(), "Not found")


def test_a_crash_is_the_cockpits_500_with_the_request_id(login, staff, monkeypatch):
    def crash(*args, **kwargs):
        raise RuntimeError("the kiln caught fire")

    monkeypatch.setattr("cockpit.views.shell.job_run_list", crash)
    client = login(staff.viewer)
    client.raise_request_exception = False

    response = client.get(reverse("cockpit:overview", args=["north-kiln"]))

    assert response.status_code == 500
    html = response.content.decode()
    assert_cockpit_page(html, "Something went wrong")
    assert "the kiln caught fire" not in html
    assert request_id_shown(html) == response["X-Request-ID"]


def test_a_request_for_another_host_is_the_cockpits_400(client):
    response = client.get("/login/", headers={"host": "kiln.attacker.example"})

    assert response.status_code == 400
    html = response.content.decode()
    assert_cockpit_page(html, "Bad request")
    assert request_id_shown(html) == response["X-Request-ID"]


def test_a_form_without_its_csrf_token_is_the_cockpits_403(staff):
    client = Client(enforce_csrf_checks=True)

    response = client.post(reverse("login"), {"username": "ada", "password": "whatever"})

    assert response.status_code == 403
    html = response.content.decode()
    assert_cockpit_page(html, "This form has expired")
    assert "reload the page" in html


def test_a_missing_role_is_the_cockpits_403_in_the_shell(login, staff):
    url = reverse("cockpit:proposal_new", args=["north-kiln"])

    response = login(staff.viewer).get(url)

    assert response.status_code == 403
    html = response.content.decode()
    assert_cockpit_page(html, "Not allowed")
    assert "operator" in html
