"""Inboxes: web widget and API channels."""
