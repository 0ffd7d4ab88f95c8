"""Outward plumbing shared by every connector: HTTP with retries, OAuth2 tokens, secrets."""
