"""Voxsig: self-hosted customer messaging whose webhooks are never lost."""

__version__ = "0.1.0"
