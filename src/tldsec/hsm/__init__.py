"""Key stores: where private keys live and sign (DPS 5.1, 5.2).

``base`` defines the ``KeyStore`` protocol and ``KeyStoreSpec``; ``pkcs11`` talks to an
HSM (SoftHSM2 by default, set up by ``softhsm``; ``p11lib`` holds the module per process,
``p11errors`` translates its errors), ``file`` keeps PEM keys where the policy allows it,
and ``memory`` serves fast unit tests. ``open.open_keystore`` turns a spec into a store;
a spec is picklable so each signing worker process opens its own session.
``dnspython_key`` lets ``dns.dnssec.sign`` sign with a store's key. docs/hsm.md.
"""
