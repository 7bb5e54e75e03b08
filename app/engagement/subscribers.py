"""Readership housekeeping: per-person events past the retention period are anonymized."""
