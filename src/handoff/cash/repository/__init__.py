"""Cash storage: the only SQL for bank statements and lines, matches, allocations and payments."""
