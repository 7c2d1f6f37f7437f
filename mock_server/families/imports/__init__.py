"""The imports family: ``POST /v1/imports`` (createImport).

:mod:`.models`: the event rules, the streaming row reader and the creation of
the import job (no HTTP); :mod:`.responses`: the multipart upload.
"""
