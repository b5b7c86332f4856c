"""Agent bots: Chatwoot's API for them, their endpoint, their token, and the handover to people."""
