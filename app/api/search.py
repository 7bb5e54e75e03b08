"""TODO(search): being written."""
