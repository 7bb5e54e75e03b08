"""TODO(editions): being written."""
