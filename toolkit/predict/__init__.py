"""Batch inference with a trained model: sentence predictions and article summaries."""
