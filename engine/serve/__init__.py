"""The decision service (``alertpolicy serve``), one job a module.

- ``entry`` — the command's process-wide choices, then uvicorn; ``workers`` — the
  supervisor of ``--workers N`` and each worker's entry point; ``settings``; ``sockets``;
  ``protocol`` (header limits); ``logs`` (one line a record); ``tuning`` (the collector).
- ``app`` — one service process assembled; ``routes``, ``middleware``, ``httpio``,
  ``auth``, ``openapi`` — the HTTP side.
- ``coordinator`` — the one owner of the serving revision (build, guard, swap, tell);
  ``serving`` (leases), ``revision`` (its values), ``builder`` + ``reloadchild`` (revisions
  built in forkserver children), ``state`` (the kept accepted revision), ``repair`` (a
  failed engine rebuilt), ``queue`` + ``watcher`` (when to reload).
- Subscribers: ``metrics``, ``decisionlog`` + ``logwriter``, ``status`` (``/v1/policy`` and
  the log line of each reload).
"""
