"""``python -m examples.fix``: the FIX demo (see :mod:`examples.fix.demo`)."""

from .demo import main

raise SystemExit(main())
