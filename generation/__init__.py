"""Generation jobs: the PostgreSQL queue, workers, backends and the gated pipeline."""
