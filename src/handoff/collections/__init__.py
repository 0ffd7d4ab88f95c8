"""Collections: payment reminders by tone tier (dunning), disputes and pauses."""
