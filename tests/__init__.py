"""Voxsig's test suite: every test talks HTTP to a real server, on SQLite and on PostgreSQL."""
