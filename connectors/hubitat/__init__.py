"""Hubitat Elevation through its Maker API (HTTP + JSON, token in the query string)."""
