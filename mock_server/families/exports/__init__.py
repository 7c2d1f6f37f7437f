"""The exports family (the appex host): Trigger an Export Job, Show Jobs, Show
Job by Job ID (triggerExport, listExportJobs, getExportJob), and the files
behind the presigned download URLs.

:mod:`.models`: the filters, the export job's views, chunks and presigned
URLs (no HTTP); :mod:`.formats`: the files, streamed, in CSV, NDJSON, Parquet
or Avro (no HTTP); :mod:`.responses`: the operations' handlers.
"""
