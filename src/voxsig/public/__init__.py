"""Chatwoot's public client API for API-channel inboxes: no agent token, the inbox identifier
and the contact's source_id are the credentials."""
