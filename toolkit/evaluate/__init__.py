"""Metrics over arrays, and evaluation of predictions against reviewed labels."""
