"""Files from outside that invoicing reads: one module per format (`ecb`: the ECB's euro reference rates)."""
