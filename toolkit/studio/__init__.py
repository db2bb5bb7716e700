"""Label Studio: the only code that knows Label Studio's JSON."""
