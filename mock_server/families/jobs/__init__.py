"""The jobs family: List Jobs and Check job status (listJobs, getJob), over
every job of an app, whatever family made it. The lifecycle is
:mod:`mock_server.backend.lifecycle`'s; :mod:`.responses` answers."""
