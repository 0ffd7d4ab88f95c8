"""Cash, pure: statements and balances, remittance reading, the matcher and the policy that judges its proposals."""
