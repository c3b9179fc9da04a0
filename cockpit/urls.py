from django.contrib.auth import views as auth_views
from django.urls import path

from cockpit import views

app_name = "cockpit"

urlpatterns = [
    path("", views.home, name="home"),
    path("s/<slug:studio>/", views.overview, name="overview"),
    path("s/<slug:studio>/connectors/", views.connectors, name="connectors"),
    path("s/<slug:studio>/connectors/<slug:name>/check/", views.connector_check, name="connector_check"),
    *[
        path(f"s/<slug:studio>/{section.key}/", views.section_view(section.key), name=section.key)
        for section in views.SECTIONS
        if section.key != "connectors"
    ],
]

auth_urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
