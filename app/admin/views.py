"""Admin views (being written)."""
