"""Cockpit forms, one module per section."""
