"""Every cockpit page in Debian's chromium, with demo-like data, signed in as an admin:

- at 390 px (a phone) nothing scrolls sideways: ``scrollWidth`` stays within the viewport;
- at 1280 px axe-core (the npm dev dependency, see package.json) finds no serious or
  critical accessibility violation.

The pages are the GET routes of ``cockpit/urls.py``, so a page added there is checked here
without editing this file; a page whose URL needs a row this file does not make fails the
test, naming the parameter. Screenshots land in tests/artifacts/pages/ for a person to look at.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.urls import URLPattern, reverse
from django.urls.converters import IntConverter
from django.utils import timezone
from playwright.sync_api import Browser, BrowserContext, Page

from brain.services.reconciliation import reconciliation_run
from brain.services.snapshots import drift_check, snapshot_capture
from brain.state.sources import DemoSource
from cockpit.urls import urlpatterns
from connectors.runtime import redis_client
from connectors.services import connector_poll
from governance.actors import Actor
from governance.errors import Denied
from governance.models import AgentToken, IntakeReview, PolicyDecision
from governance.services.agent_submissions import SubmissionDenied, agent_proposal_submit
from governance.services.agents import resolve_actor
from governance.services.approvals import approval_grant
from governance.services.execution import proposal_execute
from governance.services.exemptions import exemption_request
from governance.services.proposals import proposal_submit
from tests.cockpit.test_state_browser import close_batches_and_add_reservations, write_demo
from tests.factories import PASSWORD, ConnectorConfigFactory, JobRunFactory
from tests.peers.contract_peers import FAST
from tests.policy_support import issue, make_agent, make_delegation

ROOT = Path(settings.BASE_DIR)
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "tests" / "artifacts" / "pages"
NARROW = 390
WIDE = 1280
BLOCKING_IMPACTS = ("serious", "critical")
NOTE = "firestore.ops_note.append"
# Parts of long pages also shot on their own, to be read at full size.
PARTS = {"policy": "#denials", "overview": "#job-runs"}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("clean_limits"),
    pytest.mark.timeout(300),
]


@dataclass(frozen=True)
class CockpitPage:
    name: str
    path: str


@pytest.fixture
def demo(staff, tmp_path, hubitat_peer, monkeypatch) -> Iterator[dict[str, Any]]:
    """North Kiln with what a week of use leaves behind: snapshots with a diff and drift,
    a reconciliation, a polled connector, job runs, proposals in several states, denials,
    an agent with a delegation and a token, an exemption waiting, an intake review."""
    studio = staff.studio
    write_demo(tmp_path)
    snapshot_capture(studio=studio, source=DemoSource(tmp_path))
    write_demo(tmp_path, mutate=close_batches_and_add_reservations)
    changed = snapshot_capture(studio=studio, source=DemoSource(tmp_path)).snapshot

    def more_reservations(demo):
        close_batches_and_add_reservations(demo)
        demo.firestore["documents"] += [
            {
                "name": f"reservations/late{n:03d}",
                "fields": {},
                "createTime": "2026-11-21T10:00:00Z",
                "updateTime": "2026-11-21T10:00:00Z",
            }
            for n in range(30)
        ]

    write_demo(tmp_path, mutate=more_reservations)
    drift_check(studio=studio, source=DemoSource(tmp_path))
    outcome = reconciliation_run(studio=studio)
    # The summaries the real jobs write (brain/tasks.py): a snapshot's 64-character hash.
    JobRunFactory(
        studio=studio,
        name="studio_state.capture",
        summary={
            "snapshot": changed.pk,
            "created": True,
            "content_hash": changed.content_hash,
            "completeness": changed.completeness,
            "drift": 1,
        },
    )
    JobRunFactory(
        studio=studio,
        name="reconciliation",
        summary={"reconciliation_run": outcome.run.pk, "status": outcome.run.status, "flags": 12},
    )
    JobRunFactory(
        studio=studio,
        name="studio_state.capture",
        status="failed",
        error="FirestoreUnavailable: projects/demo-north-kiln/databases/(default)/documents "
        "answered 503 after 3 attempts",
    )

    monkeypatch.setenv("PAGES_HUBITAT_TOKEN", hubitat_peer.token)
    hub = ConnectorConfigFactory(
        studio=studio,
        kind="hubitat",
        name="hub1",
        settings={"host": hubitat_peer.url, "app_id": 12, **FAST},
        secret_env={"token": "PAGES_HUBITAT_TOKEN"},
    )
    connector_poll(config=hub)

    def submit(user, note: str):
        return proposal_submit(
            studio=studio,
            capability_id=NOTE,
            # A batch of the captured demo cloud: the mirror must hold what a proposal names.
            input={"batch_id": "batch000007", "note": note},
            rationale="The kiln schedule changed this week",
            actor=Actor.staff(user),
        )

    pending = submit(staff.operator, "Bisque load moved to kiln 2")
    approved = submit(staff.operator, "Glaze firing starts at six")
    approval_grant(
        proposal_id=approved.pk, actor=Actor.staff(staff.approver), rationale="Checked the note"
    )
    for attempt in (
        lambda: approval_grant(
            proposal_id=pending.pk, actor=Actor.staff(staff.viewer), rationale="Looks fine to me"
        ),
        lambda: proposal_execute(proposal_id=approved.pk, actor=Actor.staff(staff.operator)),
    ):
        with pytest.raises(Denied):
            attempt()

    agent = make_agent(studio, "ops-bot", "owner-ada", name="Ops Bot")
    delegation = make_delegation(studio, "ops-bot", "owner-ada")
    issue(staff.admin, agent)
    actor = resolve_actor(issue(staff.admin, agent))
    with pytest.raises(SubmissionDenied):
        agent_proposal_submit(
            actor=actor,
            capability_id=NOTE,
            input={"batch_id": "b2", "note": "Glaze the Disney characters on the mugs"},
            rationale="Customer asked for the design",
        )
    exemption = exemption_request(
        studio=studio,
        capability_id=NOTE,
        justification="Open studio week: kiln notes without waiting",
        expires_at=timezone.now() + dt.timedelta(days=3),
        actor=Actor.staff(staff.admin),
    )
    yield {
        "studio": studio.slug,
        "proposal_id": pending.pk,
        "diff_id": changed.diff.pk,
        "decision_id": PolicyDecision.objects.filter(studio=studio, allowed=False).first().pk,
        "name": hub.name,
        "exemption_id": exemption.pk,
        "agent_pk": agent.pk,
        "token_pk": AgentToken.objects.filter(agent=agent).first().pk,
        "review_id": IntakeReview.objects.filter(studio_id=studio.pk).first().pk,
        "delegation_id": delegation.pk,
        "kind": "batch",  # the New proposal form's mirror lookup
    }
    redis_client().delete(f"brain:breaker:{hub.instance_id}")


def cockpit_pages(base: str, values: dict[str, Any], page: Page) -> list[CockpitPage]:
    """The routes of cockpit/urls.py that answer a GET with a whole page (not an action
    that only takes POST, not an htmx fragment)."""
    pages = []
    for pattern in urlpatterns:
        assert isinstance(pattern, URLPattern)
        converters = pattern.pattern.converters
        # A parameter demo() does not name gets a placeholder: enough for a POST-only route
        # (refused 405 before any lookup); a page that needs a real row answers 404 below.
        kwargs = {
            name: values.get(name, 1 if isinstance(converter, IntConverter) else "x")
            for name, converter in converters.items()
        }
        path = reverse(f"cockpit:{pattern.name}", kwargs=kwargs)
        response = page.request.get(f"{base}{path}", max_redirects=0)
        if response.status == 405 or response.status in (301, 302):
            continue  # an action (POST only) or a redirect to a page already listed
        assert response.status == 200, (
            f"GET {path} ({pattern.name}) answered {response.status}: give demo() a real "
            f"value for {sorted(set(converters) - set(values))}"
        )
        if "<main" not in response.text():
            continue  # a fragment htmx swaps into its page
        pages.append(CockpitPage(pattern.name or path, path))
    return pages


def sign_in(page: Page, base: str, username: str = "ada") -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r".*/s/.*"))


def shot(page: Page, cockpit_page: CockpitPage, width: int) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = f"{cockpit_page.name}-{width}"
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    if cockpit_page.name in PARTS:
        part = page.locator(PARTS[cockpit_page.name])
        part.screenshot(path=str(ARTIFACTS / f"{name}-part.png"))


@pytest.fixture
def signed_in(live_server, demo, page: Page) -> Page:
    page.context.set_default_timeout(20_000)
    page.set_viewport_size({"width": NARROW, "height": 844})
    sign_in(page, live_server.url)
    return page


def test_no_cockpit_page_scrolls_sideways_on_a_phone(live_server, demo, signed_in: Page):
    page = signed_in
    base = live_server.url
    pages = cockpit_pages(base, demo, page)
    assert {"overview", "proposals", "proposal_detail", "policy", "audit"} <= {
        p.name for p in pages
    }
    overflowing = {}
    for cockpit_page in pages:
        page.goto(f"{base}{cockpit_page.path}")
        page.wait_for_load_state("networkidle")
        shot(page, cockpit_page, NARROW)
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > NARROW:
            overflowing[cockpit_page.path] = f"{width} px: {_widest(page)}"
    assert overflowing == {}, json.dumps(overflowing, indent=2)


def _widest(page: Page) -> str:
    """What sticks out past the right edge, outside any scrolling box (what to fix): the
    outermost elements, and text that overflows its element."""
    return page.evaluate(
        """() => {
          const edge = document.documentElement.clientWidth + 0.5;
          const clipped = (node) => {
            for (let el = node.parentElement; el && el !== document.body; el = el.parentElement) {
              if (getComputedStyle(el).overflowX !== 'visible') return true;
            }
            return false;
          };
          const label = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
            + (typeof el.className === 'string' && el.className ? '.' + el.className : '');
          const out = [];
          for (const el of document.querySelectorAll('body *')) {
            const right = el.getBoundingClientRect().right;
            if (right > edge && el.parentElement.getBoundingClientRect().right <= edge
                && !clipped(el)) {
              out.push(`${label(el)} (${Math.round(right)} px): ${el.textContent.trim().slice(0, 40)}`);
            }
          }
          const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
          for (let text = walker.nextNode(); text; text = walker.nextNode()) {
            const range = document.createRange();
            range.selectNodeContents(text);
            const right = range.getBoundingClientRect().right;
            if (right > edge && text.parentElement.getBoundingClientRect().right <= edge
                && !clipped(text)) {
              out.push(`text in ${label(text.parentElement)} (${Math.round(right)} px): `
                       + text.textContent.trim().slice(0, 40));
            }
          }
          return out.slice(0, 6).join(' | ');
        }"""
    )


@pytest.fixture
def axe_context(browser: Browser, live_server, demo) -> Iterator[BrowserContext]:
    """A context that lets axe-core's injected script run: the cockpit's CSP allows only
    scripts carrying the response's nonce, which an injected one cannot know. Only this
    context bypasses it; test_browser.py checks the policy itself."""
    assert AXE.exists(), f"{AXE} is missing: run `make test-deps` (npm ci)"
    context = browser.new_context(bypass_csp=True, viewport={"width": WIDE, "height": 900})
    context.set_default_timeout(20_000)
    yield context
    context.close()


def test_every_cockpit_page_has_no_serious_accessibility_violation(
    live_server, demo, axe_context: BrowserContext
):
    page = axe_context.new_page()
    base = live_server.url
    sign_in(page, base)
    pages = cockpit_pages(base, demo, page)
    found: dict[str, list[str]] = {}
    for cockpit_page in pages:
        page.goto(f"{base}{cockpit_page.path}")
        page.wait_for_load_state("networkidle")
        shot(page, cockpit_page, WIDE)
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        problems = [
            f"{v['impact']} {v['id']}: {v['help']} — "
            + "; ".join(", ".join(node["target"]) for node in v["nodes"][:4])
            for v in result["violations"]
            if v["impact"] in BLOCKING_IMPACTS
        ]
        if problems:
            found[cockpit_page.path] = problems
    assert found == {}, json.dumps(found, indent=2, ensure_ascii=False)
