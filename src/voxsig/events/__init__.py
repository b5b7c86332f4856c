"""Webhook events: their names (names.py) and one emitter per event (emit.py)."""
