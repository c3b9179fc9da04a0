"""Firestore, the studio's system of record, read through google-cloud-firestore (read-only)."""
