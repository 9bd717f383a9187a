"""Sensor adapters that produce skeleton frames."""
