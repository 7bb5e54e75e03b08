"""Cross-cutting web plumbing: security headers, error pages, template context, navigation."""
