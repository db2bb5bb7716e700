"""Label Studio ML backend: live pre-annotation from a trained model."""
