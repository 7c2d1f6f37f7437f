"""Evidence from the real API, carried into the fake (docs/evidence.md).

- :mod:`.har`: cassettes (HAR 1.2): the :class:`~.har.Exchange`, reading
  and writing;
- :mod:`.redact`: what a cassette never holds (the API key, cookies,
  secret-like parameters and fields);
- :mod:`.record`: the recording proxy (``userpilot-mock record``);
- :mod:`.observe`: what recorded answers say about jobs and their forms;
- :mod:`.calibrate`: a profile fitted to cassettes (``userpilot-mock calibrate``);
- :mod:`.shapes`: the shape of answers (fields, types, formats, headers,
  status codes) and the differences between two shapes;
- :mod:`.diff`: recorded requests sent to the fake (``userpilot-mock diff``);
- :mod:`.replay`: recorded answers served on the fake's clock (``serve --replay``).

No Flask here except where a module says so (the diff's in-process fake).
"""
