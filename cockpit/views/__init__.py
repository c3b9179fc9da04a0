"""Cockpit pages, one module per section: shell, state, proposals, audit, connectors, policy."""
