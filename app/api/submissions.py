"""TODO(submissions): being written."""
