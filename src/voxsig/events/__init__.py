"""Webhook events: their names, their payloads, and publishing them into the outbox."""
