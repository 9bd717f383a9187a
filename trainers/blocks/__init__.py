"""Shared training pieces: losses, batch samplers."""
