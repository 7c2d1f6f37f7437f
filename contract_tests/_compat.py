"""Work-arounds for the Schemathesis version the kit pins (>=4.32.5,<4.33).

Each one says what it fixes and does nothing once the bug is gone.
"""
from __future__ import annotations

#: Keyword arguments only a network session understands.
_SOCKET_KWARGS = ("max_redirects", "verify", "cert", "proxies")


def patch_wsgi_probe_kwargs() -> None:
    """Let the ``ignored_auth`` check probe an in-process (WSGI) app.

    Schemathesis 4.32.5's engine sends the probes of ``ignored_auth`` without
    a session but with the run's socket-level transport arguments
    (``max_redirects``, ...), which its WSGI transport passes on to Werkzeug:
    ``TypeError: EnvironBuilder.__init__() got an unexpected keyword argument
    'max_redirects'``. Dropping them is what the transport already does when
    a session is given. Idempotent.
    """
    from schemathesis.transport.wsgi import WSGI_TRANSPORT, WSGITransport

    if getattr(WSGI_TRANSPORT.send, "_userpilot_patched", False):
        return

    def send(case, *, session=None, **kwargs):
        if session is None:
            for name in _SOCKET_KWARGS:
                kwargs.pop(name, None)
        return WSGITransport.send(WSGI_TRANSPORT, case, session=session, **kwargs)

    send._userpilot_patched = True  # type: ignore[attr-defined]
    WSGI_TRANSPORT.send = send  # type: ignore[method-assign]
