"""Scripts that train the bundled demo models, with a procedural dataset (no downloads)."""
