"""Network definitions shared by inference and training."""
