"""TODO(quotes): being written."""
