"""YAML configuration (model catalog, routing policies) → validated, compiled, swappable."""
