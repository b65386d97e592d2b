"""Distribution: verified signed zones kept by serial, IXFR differences, the hidden
primary (SOA, AXFR, IXFR over UDP and TCP, TSIG) and NOTIFY to the secondaries.

``store`` is the hand-over point (DPS 5.6): a cycle pushes each verified zone into it
and commits once; ``source`` reads it as versions and differences ready to send;
``server`` serves them and never reaches back into the signer; ``notify`` tells the
secondaries about each new serial; ``ixfr`` computes the differences between
consecutive serials; ``records`` and ``wire`` build the messages; ``config`` reads the
``[distribute]`` table.
"""
