"""Cash: bank statements, cash application (matching bank lines to open invoices) and payments."""
