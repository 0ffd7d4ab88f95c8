"""Reporting: the dashboard metrics, the weekly exception digest and its charts."""
