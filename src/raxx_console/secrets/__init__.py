"""Secrets: the registry of secrets the console knows (names, never values) and their rotation."""
