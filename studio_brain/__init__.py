"""The Django project: settings, the root URLconf, the WSGI entry point and the Celery app.

It wires the apps together (``brain``, ``governance``, ``connectors``, ``cockpit``) and
nothing imports it back: the apps stay importable without knowing which project runs them.
"""

from studio_brain.celery import app as celery_app

__all__ = ["celery_app"]
