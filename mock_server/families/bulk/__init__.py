"""The bulk identify family: ``POST /v1/users/bulk_identify`` and
``POST /v1/companies/bulk_identify`` (bulkIdentifyUsers,
bulkIdentifyCompanies): jobs of the analytex job list.

:mod:`.models`: the rows, their checks and the bulk job (no HTTP);
:mod:`.responses`: the JSON body or the multipart NDJSON file.
"""
