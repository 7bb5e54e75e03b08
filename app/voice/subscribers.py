"""The customer voice's periodic jobs (being written)."""
