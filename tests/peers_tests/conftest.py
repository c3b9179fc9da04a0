"""The peers' own tests use the session peers of tests/peers/fixtures.py (loaded by
tests/conftest.py): `firestore_peer`, `firestore_client`, `stripe_peer`."""
