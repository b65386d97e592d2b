"""Key management: key facts in the signer database, states derived from them (DPS 6.1, 6.4).

``state`` derives a key's lifecycle state at any moment, ``timing`` holds the RFC 7583
intervals, ``planner`` returns the next steps and when each is due, ``plan`` turns key
records into the SigningConfig the signer follows; ``service`` applies them to the store.
"""
