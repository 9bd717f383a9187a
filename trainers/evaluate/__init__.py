"""Re-ID and action evaluation protocols, metrics and plots."""
