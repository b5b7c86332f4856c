"""Test infrastructure: a throwaway PostgreSQL, a Voxsig subprocess, a webhook receiver."""
