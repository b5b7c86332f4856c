"""Messages: created by contacts, agents, or the system (activity)."""
