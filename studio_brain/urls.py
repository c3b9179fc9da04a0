"""The site's URLs: probes, admin at its configured path, login, the agent API, the cockpit."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from brain import health
from cockpit.api import api
from cockpit.urls import auth_urlpatterns

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", health.metrics_view, name="metrics"),
    path(settings.BRAIN.admin_path, admin.site.urls),
    path("api/v1/", api.urls),
    *auth_urlpatterns,
    path("", include("cockpit.urls")),
]

handler400 = "cockpit.views.shell.bad_request"
handler403 = "cockpit.views.shell.permission_denied"
handler404 = "cockpit.views.shell.not_found"
handler500 = "cockpit.views.shell.server_error"
