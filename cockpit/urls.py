from django.contrib.auth import views as auth_views
from django.urls import path

from cockpit import views, views_state

app_name = "cockpit"

# Sections with real pages; the rest still show what they will hold.
BUILT_SECTIONS = {"state", "connectors"}

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
        if section.key not in BUILT_SECTIONS
    ],
]

auth_urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
