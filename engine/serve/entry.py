"""``alertpolicy serve``'s entry point: the process-wide choices, then uvicorn.

Here, and in a worker's entry point (:func:`.workers.worker_app`), and nowhere else, the
service decides what is process-wide: the log format, the tuning of the garbage
collector, the C allocator and memory pages (:mod:`.tuning`), the header limits of every
connection, and starting the forkserver that reload children come from (:mod:`.builder`)
before any thread exists.  Everything that can be refused is refused before the service
listens, with a message and exit code 2: an invalid policy, a port in use, an unreadable
token file, an unusable state directory.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import time
from contextlib import ExitStack
from socket import socket
from types import FrameType

import uvicorn

from alertpolicy.engine.errors import PolicyError, ReloadWorkerFailed, StartError
from alertpolicy.engine.load.mirror import mirror_folder, source_url
from alertpolicy.engine.serve.app import create_app, service_for
from alertpolicy.engine.serve.auth import read_token
from alertpolicy.engine.serve.builder import RevisionBuilder, start_reload_server
from alertpolicy.engine.serve.fleet import SchoolsService
from alertpolicy.engine.serve.gitpoll import GitPoller, first_fetch, git_mirror
from alertpolicy.engine.serve.logs import configure_logging
from alertpolicy.engine.serve.origin import DirectoryOrigin, GitOrigin, Origin
from alertpolicy.engine.serve.protocol import LimitedHttpProtocol, set_header_limits
from alertpolicy.engine.serve.routes import MULTIPROCESS_ENV
from alertpolicy.engine.serve.scratch import ScratchFolder, remove_abandoned
from alertpolicy.engine.serve.settings import ServeSettings
from alertpolicy.engine.serve.sockets import listening_socket
from alertpolicy.engine.serve.state import AcceptedStore
from alertpolicy.engine.serve.tuning import COLLECTOR_TUNING, serving_tuning
from alertpolicy.engine.serve.workers import Workers

log = logging.getLogger("alertpolicy.serve")

WORKER_START_SECONDS = 120
"""How long a worker may take to load a large policy before uvicorn gives up on it."""


def run(settings: ServeSettings, host: str, port: int) -> None:
    """Check everything that can be refused, then serve until interrupted (SIGINT/SIGTERM).

    Raises :class:`~alertpolicy.engine.errors.PolicyError` (invalid policy) or
    :class:`StartError` before anything is served.
    """
    configure_logging(settings.log_level)
    set_header_limits(settings.max_header_bytes, settings.header_timeout)
    start_reload_server()  # before any thread: reload children are forked from it
    for folder in remove_abandoned():
        log.info("removed %s, left by a service that was killed", folder)
    if settings.token_file is not None:
        read_token(settings.token_file)
    if settings.state_dir is not None:
        AcceptedStore(settings.state_dir, settings.policy_dir).prepare()
    elif settings.max_route_loss is not None:
        log.warning(
            "--state-dir none: the coverage guard compares with the revision serving, but "
            "after a restart it has nothing to compare with and serves whatever is on disk"
        )
    stopped_by: list[int] = []
    with ExitStack() as stack:
        settings = _folders(settings, stack)
        sock = stack.enter_context(listening_socket(host, port))
        if settings.workers > 1:
            _run_workers(settings, sock, stack)
        else:
            stopped_by = _run_one(settings, sock)
    # The temporary folders are removed: Ctrl-C exits 130 (every time); SIGTERM, a stop
    # asked for, exits 0, as with several workers.
    if signal.SIGINT in stopped_by:
        raise KeyboardInterrupt


def _folders(settings: ServeSettings, stack: ExitStack) -> ServeSettings:
    """``settings`` with the folders the service keeps while it runs: the mirror of
    ``--policy-git`` (in the state directory, so that a restart starts from it) and,
    for many schools or several workers, the cache of built revisions the workers share
    (each revision is then parsed and checked once, not once per worker)."""
    if settings.policy_git is not None and settings.git_mirror is None:
        state = settings.state_dir
        if state is None:
            state = stack.enter_context(ScratchFolder("git"))
        mirror = mirror_folder(state, source_url(settings.policy_git), settings.git_ref)
        settings = dataclasses.replace(settings, git_mirror=mirror)
    shared = settings.policies_dir is not None or settings.workers > 1
    if shared and settings.build_cache is None:
        cache = stack.enter_context(ScratchFolder("builds"))
        settings = dataclasses.replace(settings, build_cache=cache)
    return settings


def _uvicorn_config(settings: ServeSettings, app: object, **options: object) -> uvicorn.Config:
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        log_config=None,
        log_level=settings.log_level,
        # uvicorn formats an access line for every response whenever it may log one;
        # below "info" none is ever written, so none is formatted (~10% of a request).
        access_log=settings.log_level in ("debug", "info"),
        http=LimitedHttpProtocol,
        **options,  # type: ignore[arg-type]
    )


def _run_one(settings: ServeSettings, sock: socket) -> list[int]:
    """Serve in this process until stopped; the signals that stopped it."""
    try:
        service = service_for(settings, tuning=serving_tuning(settings.policies_dir is not None))
    except OSError as error:
        raise StartError(str(error)) from error
    try:
        service.prepare()
    except ReloadWorkerFailed as error:
        service.close()
        raise StartError(str(error)) from error
    except BaseException:
        service.close()
        raise
    config = _uvicorn_config(settings, create_app(service), lifespan="on")
    log.info("serving on %s:%d", *sock.getsockname()[:2])
    server = _Server(config)
    server.run(sockets=[sock])
    return server.stopped_by


class _Server(uvicorn.Server):
    """uvicorn's server, remembering the signals that stopped it instead of raising them
    again as it returns.

    uvicorn raises such a signal again once it has shut down: SIGTERM then ended the
    process before its temporary folders were removed, and for SIGINT asyncio turns it
    into KeyboardInterrupt only when its main task has not finished yet, so Ctrl-C ended
    the command with 130 or 0 by chance.  :func:`run` ends the command once it has
    cleaned up.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.stopped_by: list[int] = []

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Remember ``sig`` and stop as uvicorn does (a second Ctrl-C: at once)."""
        self.stopped_by.append(sig)
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True
        else:
            self.should_exit = True


def _run_workers(settings: ServeSettings, sock: socket, stack: ExitStack) -> None:
    """Check the policy once (in a reload child) — or build every school once, for all
    the workers — then let the workers load and serve."""
    try:
        if settings.policies_dir is not None:
            _prebuild_schools(settings)
        else:
            _check_once(settings)
    except ReloadWorkerFailed as error:
        raise StartError(str(error)) from error
    if settings.state_dir is None:  # workers still share what they accept, for this run
        shared = stack.enter_context(ScratchFolder("state"))
        settings = dataclasses.replace(settings, state_dir=shared)
    metrics = stack.enter_context(ScratchFolder("metrics"))
    os.environ.update(settings.to_env())
    os.environ[MULTIPROCESS_ENV] = str(metrics)  # workers add up their metrics there
    config = _uvicorn_config(
        settings,
        "alertpolicy.engine.serve.workers:worker_app",
        factory=True,
        workers=settings.workers,
        timeout_worker_healthcheck=WORKER_START_SECONDS,
    )
    log.info("serving on %s:%d with %d workers", *sock.getsockname()[:2], settings.workers)
    Workers(config, sockets=[sock]).run()


def _check_once(settings: ServeSettings) -> None:
    """Read and check the policy once, and keep it as the workers' common baseline."""
    origin: Origin = DirectoryOrigin(settings.policy_dir)
    mirror = git_mirror(settings)
    if mirror is not None:
        first_fetch(GitPoller(mirror, settings.git_poll, lambda _commit: None))
        origin = GitOrigin(mirror, settings.policy_dir)
    source = origin.read()
    RevisionBuilder(with_coverage=False).build(source)
    if settings.state_dir is not None:  # every worker starts from the same baseline
        store = AcceptedStore(settings.state_dir, origin.key)
        if store.revision() is None:
            store.record(source)


def _prebuild_schools(settings: ServeSettings) -> None:
    """Build every school once, into the cache the workers read (see :mod:`.buildcache`)."""
    service = SchoolsService(settings, tuning=COLLECTOR_TUNING)
    try:
        if service.poller is not None:
            first_fetch(service.poller)
        names, _misnamed = service.schools.discover()
        sources = []
        for name in names:
            try:
                sources.append(service.schools.origin_of(name).read())
            except PolicyError:
                continue  # each worker reports it when the school starts
        started = time.monotonic()
        built = service.schools.builder.prebuild(sources)
        log.info(
            "built %d of %d schools' policies in %.1f s",
            built,
            len(names),
            time.monotonic() - started,
        )
    finally:
        service.close()
