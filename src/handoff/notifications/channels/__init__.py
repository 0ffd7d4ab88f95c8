"""Delivery channels for outbox notices: e-mail (SMTP), a log file, Slack."""
