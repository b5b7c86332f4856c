"""Webhook endpoints: their API, signing, and the one outbound HTTP transport."""
