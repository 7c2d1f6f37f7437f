"""userpilot-mock: a fake of Userpilot's background-jobs API.

``create_app(...)`` returns the Flask app; ``MockServer(...)`` runs it in a
thread on a free port. Both are imported lazily so that importing this
package (the pytest plugin does, in every test run) stays cheap.
"""
from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["create_app", "MockServer", "Settings", "__version__"]


def __getattr__(name):
    # deferred: importing the package must stay cheap (the pytest plugin does, in every run)
    if name == "create_app":
        from .http.app import create_app
        return create_app
    if name == "MockServer":
        from .server import MockServer
        return MockServer
    if name == "Settings":
        from .config import Settings
        return Settings
    raise AttributeError(f"module 'mock_server' has no attribute {name!r}")
