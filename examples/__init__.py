"""Runnable examples; ``python -m examples.binance`` is the main demo."""
