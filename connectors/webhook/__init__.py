"""Outgoing webhooks: a signed POST of a notification to a studio's receiver (docs/notifications.md)."""
