"""Stripe, read with a restricted read key through the stripe library (read-only)."""
