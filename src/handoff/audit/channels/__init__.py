"""Where the audit chain's signed checkpoints are published, outside the database."""
