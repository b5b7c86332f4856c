"""Contacts and their identities in inboxes."""
