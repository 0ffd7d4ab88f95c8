"""Contract files read into the pure model: the catalog file (`catalog_file`)."""
