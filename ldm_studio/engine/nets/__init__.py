"""The networks, one per file, with attribute names that mirror the original checkpoint keys."""
