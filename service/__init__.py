"""HTTP service (issue: scoring service)."""
