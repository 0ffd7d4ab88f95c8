"""Contracts' outside systems: the CRMs' product catalogs mapped to catalog products (`crm_products`)."""
