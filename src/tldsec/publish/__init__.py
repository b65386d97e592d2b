"""The public DNSSEC repository (DPS 2.1, 2.2): a static site built from values.

``site.build_site`` takes the zone's keys, the DPS versions, the audit entries and the
policy and returns the site's files; ``write.write_site`` puts them in place atomically;
``cli/publish.py`` gathers the values from a home.
"""
