"""``python -m examples.binance``: the Binance feed demo (see :mod:`examples.binance.demo`)."""

from .demo import main

raise SystemExit(main())
