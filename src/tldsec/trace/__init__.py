"""One trace per zone change (issue 20 item 5, decision 51): from the EPP svTRID through
build, sign, verify, publication and the secondaries serving it (``query``), the worker
that finds when each serial is served and queues the registrars' poll messages
(``live``, ``secondaries``) and the DS advisory over EPP (``advice``)."""
