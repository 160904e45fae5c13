"""Postwright: provision, publish the DNS of, and verify self-hosted mail servers."""

__version__ = "0.1.0"
