"""The running service behind ``tldsec serve``: one asyncio process supervising the
hidden primary, the EPP server, the cycle scheduler (cycles run as child processes), the
HSM activation socket, the audit log's watch, and the HTTP endpoints for monitoring.

``cli/serve.py`` only parses options and calls ``supervisor.Service``. Each duty is a
module of its own so that the roles of issue 20 (registry, signer, primary) can be run
apart later without untangling them:

* ``supervisor``: ``Service``, which starts and stops the parts and holds their state;
* ``cycles``: the cycle child process, its PIN pipe and its timeout;
* ``epp``: the EPP server, in this process or in worker processes;
* ``hsm``: activation and deactivation (DPS 5.2.8, 5.2.9) and the daily replica proof;
* ``auditing``: start and stop records and the audit log's continuous watch (DPS 4.4);
* ``probes``: the databases' reachability and the registry facts metrics need, read
  every few seconds in a thread, never at request time;
* ``health``: whether signing can happen now, and every reason why not;
* ``metrics``: the Prometheus exposition (prometheus-client);
* ``http``: GET /health, /status, /metrics and POST /cycle (Starlette under uvicorn);
* ``activation`` and ``control``: the Unix socket and the control token.
"""
