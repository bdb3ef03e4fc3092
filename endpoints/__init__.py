"""Venue endpoints built on boomnet: ``endpoints.binance`` (Binance spot market streams)."""
