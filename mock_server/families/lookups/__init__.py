"""The lookups family (the appex host): ``/api/v1/analytics/exports/lookups/...``,
the properties, segments, features, events and content an app's exports
can name.

:mod:`.models`: the lists, from the app's catalogue and the events sent to
it (no HTTP); :mod:`.responses`: the handlers.
"""
