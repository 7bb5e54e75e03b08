"""`flask backup create|restore`: online backups that restore (issue 17)."""
