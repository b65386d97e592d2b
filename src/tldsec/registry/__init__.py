"""The registry: domains, hosts, contacts and registrars in the registry database (DPS 3).

Services take a ``context`` (who acts, when, under which rules) and write their history
and zone-change rows in the transaction of the mutation; ``publishable`` says what the
zone builder may publish.
"""
