"""``django.contrib.admin`` with the project's admin site (``studio_brain.admin``)."""

from django.contrib.admin.apps import AdminConfig


class StudioAdminConfig(AdminConfig):
    """Django's admin app, with ``StudioAdminSite`` as ``admin.site``."""

    default_site = "studio_brain.admin.StudioAdminSite"
