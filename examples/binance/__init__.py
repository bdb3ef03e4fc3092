"""The Binance feed demo, its embedded exchange (``exchange``) and market simulator (``market``)."""
