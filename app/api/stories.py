"""TODO(stories): being written."""
