"""skelstream core library and runtime."""
