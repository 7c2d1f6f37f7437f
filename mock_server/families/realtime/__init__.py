"""The real-time family: ``POST /v1/identify``, ``/v1/companies/identify``
and ``/v1/track`` (identifyUser, identifyCompany, trackEvent). What they send
becomes events of the app, in its later exports.

:mod:`.models`: the bodies' rules and the events they make (no HTTP);
:mod:`.responses`: the handlers.
"""
