"""Users: people, their roles (sales, finance, auditor, admin), passwords and API tokens."""
