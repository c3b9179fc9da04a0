"""Studio Brain runtime: settings, config contract, logging, health, jobs, StudioState."""

from brain.celery import app as celery_app

__all__ = ["celery_app"]
