"""Approvals in the JSON API and as Slack button clicks."""
