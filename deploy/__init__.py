"""Deployment helpers: the container entry point and its locked migration (docs/deploy.md)."""
