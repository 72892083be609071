"""pardata."""
