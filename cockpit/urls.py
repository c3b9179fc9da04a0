from django.contrib.auth import views as auth_views
from django.urls import path

from cockpit import governance_views, policy_views, views, views_state

app_name = "cockpit"

urlpatterns = [
    path("", views.home, name="home"),
    path("s/<slug:studio>/", views.overview, name="overview"),
    path("s/<slug:studio>/state/", views_state.state, name="state"),
    path("s/<slug:studio>/state/capture/", views_state.state_capture, name="state-capture"),
    path(
        "s/<slug:studio>/state/capture/<str:task_id>/",
        views_state.state_capture_progress,
        name="state-capture-progress",
    ),
    path("s/<slug:studio>/state/diffs/", views_state.state_diffs, name="state-diffs"),
    path(
        "s/<slug:studio>/state/diffs/<int:diff_id>/",
        views_state.state_diff_detail,
        name="state-diff",
    ),
    path("s/<slug:studio>/state/drift/", views_state.state_drift, name="state-drift"),
    path("s/<slug:studio>/connectors/", views.connectors, name="connectors"),
    path(
        "s/<slug:studio>/connectors/<slug:name>/check/",
        views.connector_check,
        name="connector_check",
    ),
    *[
        path(f"s/<slug:studio>/{section.key}/", views.section_view(section.key), name=section.key)
        for section in views.SECTIONS
        if section.key not in views.BUILT_SECTIONS
    ],
    path("s/<slug:studio>/proposals/", governance_views.proposal_queue, name="proposals"),
    path("s/<slug:studio>/proposals/new/", governance_views.proposal_new, name="proposal_new"),
    path(
        "s/<slug:studio>/proposals/<int:proposal_id>/",
        governance_views.proposal_detail,
        name="proposal_detail",
    ),
    path(
        "s/<slug:studio>/proposals/<int:proposal_id>/execute/",
        governance_views.proposal_execute_view,
        name="proposal_execute",
    ),
    path(
        "s/<slug:studio>/proposals/<int:proposal_id>/execution/",
        governance_views.proposal_execution_status,
        name="proposal_execution",
    ),
    path(
        "s/<slug:studio>/proposals/<int:proposal_id>/approve/",
        governance_views.proposal_approve,
        name="proposal_approve",
    ),
    path(
        "s/<slug:studio>/proposals/<int:proposal_id>/reject/",
        governance_views.proposal_reject,
        name="proposal_reject",
    ),
    path("s/<slug:studio>/audit/", governance_views.audit_timeline, name="audit"),
    path("s/<slug:studio>/audit/verify/", governance_views.audit_chain_status, name="audit_verify"),
    path("s/<slug:studio>/policy/", policy_views.policy, name="policy"),
    path(
        "s/<slug:studio>/policy/kill-switches/",
        policy_views.kill_switch_engage_view,
        name="policy_kill_switch_engage",
    ),
    path(
        "s/<slug:studio>/policy/kill-switches/<int:switch_id>/<str:step>/",
        policy_views.kill_switch_release_view,
        name="policy_kill_switch_release",
    ),
    path("s/<slug:studio>/policy/counters/", policy_views.policy_counters, name="policy_counters"),
    path(
        "s/<slug:studio>/policy/counters/reset/",
        policy_views.counter_reset_view,
        name="policy_counter_reset",
    ),
    path(
        "s/<slug:studio>/policy/exemptions/<int:exemption_id>/approve/",
        policy_views.exemption_approve_view,
        name="policy_exemption_approve",
    ),
    path(
        "s/<slug:studio>/policy/exemptions/<int:exemption_id>/revoke/",
        policy_views.exemption_revoke_view,
        name="policy_exemption_revoke",
    ),
    path(
        "s/<slug:studio>/policy/agents/", policy_views.agent_create_view, name="policy_agent_create"
    ),
    path(
        "s/<slug:studio>/policy/agents/<int:agent_pk>/tokens/",
        policy_views.token_issue_view,
        name="policy_token_issue",
    ),
    path(
        "s/<slug:studio>/policy/tokens/<int:token_pk>/rotate/",
        policy_views.token_rotate_view,
        name="policy_token_rotate",
    ),
    path(
        "s/<slug:studio>/policy/tokens/<int:token_pk>/revoke/",
        policy_views.token_revoke_view,
        name="policy_token_revoke",
    ),
    path(
        "s/<slug:studio>/policy/delegations/",
        policy_views.delegation_create_view,
        name="policy_delegation_create",
    ),
    path(
        "s/<slug:studio>/policy/delegations/<int:delegation_id>/revoke/",
        policy_views.delegation_revoke_view,
        name="policy_delegation_revoke",
    ),
    path(
        "s/<slug:studio>/policy/intake/<int:review_id>/decide/",
        policy_views.intake_decide_view,
        name="policy_intake_decide",
    ),
    path(
        "s/<slug:studio>/policy/decisions/<int:decision_id>/",
        policy_views.decision_trace,
        name="policy_decision",
    ),
]

auth_urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
