"""The fake's HTTP layer: routes built from the kit spec, request parsing,
serialisation and errors. Business rules live in :mod:`mock_server.backend`."""
