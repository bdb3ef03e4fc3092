"""An offline FIX 4.4 venue for tests and demos (see :mod:`.acceptor`)."""
