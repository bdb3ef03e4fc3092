"""The FIX demo against an embedded venue (see examples.fix.demo)."""
