from django.contrib.auth import views as auth_views
from django.urls import path

from cockpit.views import (
    audit,
    connectors,
    finance,
    notifications,
    passkeys,
    policy,
    proposal_new,
    proposals,
    shell,
    state,
)

app_name = "cockpit"

urlpatterns = [
    path("", shell.home, name="home"),
    path("s/<slug:studio>/", shell.overview, name="overview"),
    path("s/<slug:studio>/state/", state.state, name="state"),
    path("s/<slug:studio>/state/capture/", state.state_capture, name="state-capture"),
    path(
        "s/<slug:studio>/state/capture/<str:task_id>/",
        state.state_capture_progress,
        name="state-capture-progress",
    ),
    path("s/<slug:studio>/state/diffs/", state.state_diffs, name="state-diffs"),
    path(
        "s/<slug:studio>/state/diffs/<int:diff_id>/",
        state.state_diff_detail,
        name="state-diff",
    ),
    path("s/<slug:studio>/state/drift/", state.state_drift, name="state-drift"),
    path("s/<slug:studio>/connectors/", connectors.connectors, name="connectors"),
    path(
        "s/<slug:studio>/connectors/<slug:name>/check/",
        connectors.connector_check,
        name="connector_check",
    ),
    *[
        path(f"s/<slug:studio>/{section.key}/", shell.section_view(section.key), name=section.key)
        for section in shell.SECTIONS
        if section.key not in shell.BUILT_SECTIONS
    ],
    path("s/<slug:studio>/proposals/", proposals.proposal_queue, name="proposals"),
    path("s/<slug:studio>/proposals/new/", proposal_new.proposal_new, name="proposal_new"),
    path(
        "s/<slug:studio>/proposals/new/preview/",
        proposal_new.proposal_new_preview,
        name="proposal_new_preview",
    ),
    path(
        "s/<slug:studio>/proposals/lookup/<slug:kind>/",
        proposal_new.proposal_lookup,
        name="proposal_lookup",
    ),
    path("s/<slug:studio>/proposals/bulk/", proposals.proposal_bulk, name="proposals_bulk"),
    path(
        "s/<slug:studio>/proposals/<int:proposal_id>/",
        proposals.proposal_detail,
        name="proposal_detail",
    ),
    path(
        "s/<slug:studio>/proposals/<int:proposal_id>/execute/",
        proposals.proposal_execute_view,
        name="proposal_execute",
    ),
    path(
        "s/<slug:studio>/proposals/<int:proposal_id>/execution/",
        proposals.proposal_execution_status,
        name="proposal_execution",
    ),
    path(
        "s/<slug:studio>/proposals/<int:proposal_id>/approve/",
        proposals.proposal_approve,
        name="proposal_approve",
    ),
    path(
        "s/<slug:studio>/proposals/<int:proposal_id>/reject/",
        proposals.proposal_reject,
        name="proposal_reject",
    ),
    path(
        "s/<slug:studio>/proposals/<int:proposal_id>/withdraw/",
        proposals.proposal_withdraw,
        name="proposal_withdraw",
    ),
    path(
        "s/<slug:studio>/proposals/<int:proposal_id>/cancel/",
        proposals.proposal_cancel_view,
        name="proposal_cancel",
    ),
    path("s/<slug:studio>/finance/", finance.finance, name="finance"),
    path("s/<slug:studio>/finance/reconcile/", finance.finance_reconcile, name="finance_reconcile"),
    path("s/<slug:studio>/audit/", audit.audit_timeline, name="audit"),
    path("s/<slug:studio>/audit/verify/", audit.audit_chain_status, name="audit_verify"),
    path("s/<slug:studio>/notifications/", notifications.notifications, name="notifications"),
    path(
        "s/<slug:studio>/notifications/preferences/",
        notifications.notifications_preferences,
        name="notifications_preferences",
    ),
    path(
        "s/<slug:studio>/notifications/webhook/",
        notifications.notifications_webhook,
        name="notifications_webhook",
    ),
    path(
        "s/<slug:studio>/notifications/deliveries/<int:delivery_id>/retry/",
        notifications.notifications_retry,
        name="notifications_retry",
    ),
    path("s/<slug:studio>/account/passkeys/", passkeys.passkeys, name="passkeys"),
    path(
        "s/<slug:studio>/account/passkeys/register/",
        passkeys.passkey_register_view,
        name="passkey_register",
    ),
    path(
        "s/<slug:studio>/account/passkeys/register/options/",
        passkeys.passkey_register_options,
        name="passkey_register_options",
    ),
    path(
        "s/<slug:studio>/account/passkeys/step-up/options/",
        passkeys.passkey_step_up_options,
        name="passkey_step_up_options",
    ),
    path(
        "s/<slug:studio>/account/passkeys/<int:passkey_id>/remove/",
        passkeys.passkey_remove_view,
        name="passkey_remove",
    ),
    path(
        "s/<slug:studio>/account/passkeys/requirement/",
        passkeys.passkey_requirement_view,
        name="passkey_requirement",
    ),
    path("s/<slug:studio>/policy/", policy.policy, name="policy"),
    path(
        "s/<slug:studio>/policy/kill-switches/",
        policy.kill_switch_engage_view,
        name="policy_kill_switch_engage",
    ),
    path(
        "s/<slug:studio>/policy/kill-switches/<int:switch_id>/<str:step>/",
        policy.kill_switch_release_view,
        name="policy_kill_switch_release",
    ),
    path("s/<slug:studio>/policy/counters/", policy.policy_counters, name="policy_counters"),
    path(
        "s/<slug:studio>/policy/counters/reset/",
        policy.counter_reset_view,
        name="policy_counter_reset",
    ),
    path(
        "s/<slug:studio>/policy/exemptions/<int:exemption_id>/approve/",
        policy.exemption_approve_view,
        name="policy_exemption_approve",
    ),
    path(
        "s/<slug:studio>/policy/exemptions/<int:exemption_id>/revoke/",
        policy.exemption_revoke_view,
        name="policy_exemption_revoke",
    ),
    path("s/<slug:studio>/policy/agents/", policy.agent_create_view, name="policy_agent_create"),
    path(
        "s/<slug:studio>/policy/agents/<int:agent_pk>/tokens/",
        policy.token_issue_view,
        name="policy_token_issue",
    ),
    path(
        "s/<slug:studio>/policy/tokens/<int:token_pk>/rotate/",
        policy.token_rotate_view,
        name="policy_token_rotate",
    ),
    path(
        "s/<slug:studio>/policy/tokens/<int:token_pk>/revoke/",
        policy.token_revoke_view,
        name="policy_token_revoke",
    ),
    path(
        "s/<slug:studio>/policy/delegations/",
        policy.delegation_create_view,
        name="policy_delegation_create",
    ),
    path(
        "s/<slug:studio>/policy/delegations/<int:delegation_id>/revoke/",
        policy.delegation_revoke_view,
        name="policy_delegation_revoke",
    ),
    path(
        "s/<slug:studio>/policy/intake/<int:review_id>/decide/",
        policy.intake_decide_view,
        name="policy_intake_decide",
    ),
    path(
        "s/<slug:studio>/policy/decisions/<int:decision_id>/",
        policy.decision_trace,
        name="policy_decision",
    ),
]

auth_urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
