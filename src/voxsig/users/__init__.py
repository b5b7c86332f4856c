"""Agents and administrators: credentials, tokens, memberships."""
