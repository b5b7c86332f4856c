"""Accounts: the tenant boundary."""
