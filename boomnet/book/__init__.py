"""Order books: a generic price-level book venue code maps its messages onto.

    from boomnet.book import OrderBook, BID, ASK

See :mod:`boomnet.book.book` for the representation and its measured trade-offs.
"""

from .book import ASK, BID, Level, OrderBook, Price, scaled_parser

__all__ = ["OrderBook", "Level", "Price", "BID", "ASK", "scaled_parser"]
