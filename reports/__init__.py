"""Reports built from the claim catalog and a run's results (JSON document, terminal table)."""
