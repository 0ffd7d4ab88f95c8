"""Notifications: what owners, finance and buyers are told, queued in the outbox and delivered by channels."""
