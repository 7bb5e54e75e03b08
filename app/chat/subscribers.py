"""Events → chat posts (recorded in the subscriber's transaction, posted by the "chat" job)."""
