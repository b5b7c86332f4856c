"""Conversations: their lifecycle, tracked attributes and activity messages."""
