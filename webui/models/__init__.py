"""Model manager: what is on disk (registry), how it loads (loader), what is resident (manager)."""
