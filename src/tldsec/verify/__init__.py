"""The verifier: independent checks of a signed zone before distribution (DPS 6.6).

It never imports ``tldsec.signer``: a bug shared with the signer would hide itself.

Read it as one driver plus a list of checks (decisions 48, 55; import-linter holds the
layers):

* ``gate``: what reaches distribution (full or incremental, ``mode``; insecure by design,
  ``insecure``); ``verifier``: the public entry.
* ``driver``: every run. It feeds a ``context.RunContext`` to a plan, checks the apex once
  (``apexchecks``), has the plan map the region checks (``part.check_region``) over its
  regions and reduce their merged ``summary.Summary`` (``part.region_checks``), orders
  the checks and makes the report. The plans: ``sharded`` (in parts on every core),
  ``whole`` (the zone as one region), ``incremental`` (the patch proved and the edited
  regions found by ``regions``, checked as one region; the whole-file scan's ranges,
  ``filescan``, merge into its summary; ``delta`` for the external validators) and
  ``insecure`` (an unsigned zone published by design).
* The checks, each named as in the report: ``zone-file`` (``zoneread``), ``chain``,
  ``dnskeyset``, ``signatures`` (``rrsig``, ``jitter``), ``coverage``, ``nsec3chain``
  (``nsec3edits`` incrementally), ``ttl``, ``content`` (content and serial), ``second``
  (the second implementation, on each region's sample), ``external`` (other validators).
* Readers and values: ``zoneread`` (``dnscore.zoneread``, the one reader of zone files,
  its problems made findings; decision 73), ``regions`` (owners and subtrees from the
  bytes), ``filescan`` (the incremental run's one pass over the candidate's bytes: the
  unchanged ones proved, NSEC3 and RRSIG lines read),
  ``structure``, ``summary``, ``keys``, ``dpsrules`` (the DPS numbers), ``options``,
  ``report``, ``workers`` (the worker pool).
"""
