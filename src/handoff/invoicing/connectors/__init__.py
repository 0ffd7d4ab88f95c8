"""Outside systems invoicing asks: tax engines (Stripe Tax)."""
