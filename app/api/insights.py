"""TODO(insights): being written."""
