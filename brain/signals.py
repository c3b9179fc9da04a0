"""Signals brain sends so that layers above it can react without brain importing them.

``studio_state_captured`` is sent once a capture's transaction has committed, with
``studio`` and ``snapshot``: the mirror now holds the cloud's latest documents (governance
refreshes agents and delegations from them). Receivers run after the commit and their
failures are logged, never raised into the capture.
"""

from __future__ import annotations

from django.dispatch import Signal

studio_state_captured = Signal()
