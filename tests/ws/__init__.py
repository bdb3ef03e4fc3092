"""WebSocket client tests: codec (test_codec), interop with real servers, properties, Autobahn."""
