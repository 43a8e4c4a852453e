"""Utilities (being built)."""
