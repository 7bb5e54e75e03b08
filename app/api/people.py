"""TODO(people): being written."""
