"""llmdiff-eval."""
