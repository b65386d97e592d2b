"""Notices by e-mail to registrars, the public list and the operator (DPS 1.4.3, 2).

``notices`` decides which notices are due from values (keys, audit entries, DPS
versions); ``render`` writes them from templates; ``outbox`` keeps them in a spool
directory until the SMTP server accepted them; ``smtp`` sends one; ``run`` is one pass of
``tldsec notify run``. Sending is never part of a zone cycle.
"""
