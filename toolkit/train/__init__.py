"""Fine-tune a small pretrained encoder with sentiment, stance and topic heads."""
