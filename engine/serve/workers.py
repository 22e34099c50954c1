"""Several worker processes: the supervisor and each worker's entry point.

With ``--workers N`` uvicorn's supervisor starts N worker processes (``spawn``) sharing
one listening socket; each has its own coordinator, reload children and watcher.  They
agree through the state directory: a worker that starts serving a new revision (its
guard passed it, or an operator accepted it) keeps it there and sends SIGUSR1 to the
supervisor, which passes it to every worker; each then compares the files with what
was accepted, so no worker keeps holding a revision another serves.  SIGHUP to the
supervisor is passed on too: every worker rebuilds in place, keeping its connections.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time

from prometheus_client import multiprocess as prometheus_multiprocess
from starlette.applications import Starlette
from uvicorn.supervisors import Multiprocess

from alertpolicy.engine.serve.app import create_app, service_for
from alertpolicy.engine.serve.builder import start_reload_server
from alertpolicy.engine.serve.logs import configure_logging
from alertpolicy.engine.serve.protocol import set_header_limits
from alertpolicy.engine.serve.settings import ServeSettings
from alertpolicy.engine.serve.tuning import serving_tuning

log = logging.getLogger("alertpolicy.serve")


class Workers(Multiprocess):
    """uvicorn's supervisor of worker processes, where signals reload instead of restart.

    uvicorn replaces every worker on SIGHUP; a retiring worker drops any connection it
    accepted the instant before it stopped listening.  Here each worker is sent the
    signal and reloads its policy in place, keeping its connections.
    """

    def keep_subprocess_alive(self) -> None:
        """Replace workers that died, dropping their live gauges from ``/metrics``."""
        before = {process.pid for process in self.processes}
        super().keep_subprocess_alive()
        for pid in before - {process.pid for process in self.processes}:
            if pid is not None:
                prometheus_multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]

    def handle_hup(self) -> None:
        """Ask every worker to rebuild its policy now."""
        log.info("SIGHUP: asking %d workers to reload the policy", len(self.processes))
        self._tell_workers(signal.SIGHUP)

    def handle_usr1(self) -> None:
        """A worker accepted a revision: ask every worker to compare theirs."""
        self._tell_workers(signal.SIGUSR1)

    def _tell_workers(self, signum: signal.Signals) -> None:
        for process in self.processes:
            if process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signum)


def tell_siblings() -> None:
    """Ask the supervisor to have every worker compare its revision with the accepted one."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(os.getppid(), signal.SIGUSR1)


def leave_with_parent(poll: float = 1.0) -> None:
    """Stop this worker (SIGTERM: a graceful shutdown) if the supervisor dies, instead of
    serving on as an orphan no one will stop."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        log.warning("the supervisor (pid %d) is gone: stopping this worker", parent)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="supervisor-watch", daemon=True).start()


def worker_app() -> Starlette:
    """The entry point of one worker process (a uvicorn app factory).

    Signals are ignored until the worker serves (it is loading the files as they are);
    then SIGHUP rebuilds and SIGUSR1 compares, as set up by the app's lifespan.
    """
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    settings = ServeSettings.from_env()
    configure_logging(settings.log_level)
    set_header_limits(settings.max_header_bytes, settings.header_timeout)
    start_reload_server()
    leave_with_parent()
    tuning = serving_tuning(settings.policies_dir is not None)
    service = service_for(settings, tuning=tuning, siblings=tell_siblings)
    return create_app(service, worker=True)
