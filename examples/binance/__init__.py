"""The Binance feed demo (the embedded exchange lives in ``boomnet.testing.binance``)."""
