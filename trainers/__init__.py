"""Offline self-supervised pretraining and evaluation of the five methods."""
