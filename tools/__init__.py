"""Maintainer tools (not imported by the app)."""
