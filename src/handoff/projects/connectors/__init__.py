"""Projects: connectors."""
