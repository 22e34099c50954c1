"""Three replicas behind HAProxy (``deploy/haproxy.cfg``, Debian's haproxy), each serving
every school of a trust's repository on a git server (a bare repository), each on its own
loopback address, under a steady, bounded load of decisions through HAProxy:

- each school's decisions are answered by one replica (consistent hashing by school);
- a commit pushed reaches every replica, and each one's metrics name the revision it
  serves, so that drift shows;
- a replica killed and restarted, and then every replica restarted in turn, cost no
  failed request; HAProxy keeps a restarted replica out while its /readyz fails.
"""

from __future__ import annotations

import random
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.deploy.fleet import Proxy, Replica
from tests.serve.fleet_support import TrustRepository, rewrite, self_harm
from tests.serve.support import wait_until, watch_list_policy

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("haproxy") is None,
        reason="haproxy is not installed (apt-get install haproxy; .ci/run installs it)",
    ),
]

SCHOOLS = ("ashby", "brook", "cedar", "dale", "oakfield", "riverside")
"""The trust's schools (four more copies of Oakfield's policy)."""
LOAD_THREADS = 4
PAUSE = 0.01
"""Seconds each load thread waits between two decisions (a bounded load, ~200/s)."""


class Load:
    """Decisions for every school posted through HAProxy by a few threads until stopped;
    every answer is kept, and any that is not a correct decision is a failure."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answered = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(n,)) for n in range(LOAD_THREADS)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()

    def _run(self, seed: int) -> None:
        rng = random.Random(seed)
        with httpx.Client(base_url=self.url, timeout=30) as client:
            while not self._stop.is_set():
                school = rng.choice(SCHOOLS)
                try:
                    response = client.post(f"/v1/schools/{school}/decisions", json=self_harm())
                    users = [r["user"] for r in response.json()["recipients"]]
                    ok = response.status_code == 200 and "hwright" in users and "jsmith" in users
                    failure = "" if ok else f"{school}: {response.status_code} {response.text}"
                except (httpx.HTTPError, ValueError, KeyError) as error:
                    failure = f"{school}: {type(error).__name__}: {error}"
                with self._lock:
                    self.answered += 1
                    if failure:
                        self.failures.append(failure)
                self._stop.wait(PAUSE)


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[TrustRepository, list[Replica], Proxy]]:
    repository = TrustRepository(tmp_path / "git")
    schools = repository.work / "schools"
    for name in SCHOOLS:
        if not (schools / name).exists():
            shutil.copytree(schools / "oakfield", schools / name)
    # A school large enough that loading it takes a moment: a restarted replica is seen
    # answering /healthz while its /readyz still fails.
    watch_list_policy(schools / "zz-watch-list", rules=8000)
    repository.push("The trust's six schools and a large one")
    source = ("--policy-git", str(repository.bare), "--policies", "schools", "--git-poll", "0.5")
    replicas = [Replica(tmp_path, n, *source) for n in (1, 2, 3)]
    proxy = Proxy(tmp_path, replicas)
    try:
        assert wait_until(lambda: all(r.ready() for r in replicas), seconds=120), logs(replicas)
        assert wait_until(lambda: all(proxy.status(r) == "UP" for r in replicas), seconds=30)
        yield repository, replicas, proxy
    finally:
        proxy.stop()
        for replica in replicas:
            replica.stop()


def logs(replicas: list[Replica]) -> str:
    return "\n".join(f"== {r.name}\n{r.log.read_text(errors='replace')}" for r in replicas)


def restart(replica: Replica, proxy: Proxy, sig: int) -> list[str]:
    """Stop ``replica`` with ``sig``, start it again, and wait until HAProxy has it back;
    HAProxy's status of it at each moment it was seen alive but loading (its /healthz
    answering 200, its /readyz 503)."""
    replica.stop(sig)
    assert wait_until(lambda: proxy.status(replica) != "UP", seconds=15)
    replica.start()
    loading: list[str] = []

    def back() -> bool:
        if status_code(replica, "/healthz") == 200 and status_code(replica, "/readyz") == 503:
            loading.append(proxy.status(replica))  # asked after /readyz: never too early
        return proxy.status(replica) == "UP"

    assert wait_until(back, seconds=120), replica.log.read_text(errors="replace")
    return loading


def status_code(replica: Replica, path: str) -> int | None:
    """The status ``replica`` answers ``GET path`` with; ``None`` while it does not listen."""
    try:
        return replica.get(path).status_code
    except httpx.TransportError:
        return None


def test_three_replicas_behind_haproxy(
    fleet: tuple[TrustRepository, list[Replica], Proxy],
) -> None:
    repository, replicas, proxy = fleet
    with Load(proxy.url) as load:
        assert wait_until(lambda: load.answered >= 300, seconds=60)
        # Each school is answered by one replica, and the schools are spread over them.
        counts = [replica.decisions() for replica in replicas]
        owners = {s: [n for n, c in enumerate(counts) if c.get(s)] for s in SCHOOLS}
        assert all(len(owner) == 1 for owner in owners.values()), owners
        assert len({owner[0] for owner in owners.values()}) >= 2, owners

        # A commit reaches every replica; each one's metrics name what it serves.
        before = [replica.serving() for replica in replicas]
        assert all(serving == before[0] for serving in before)
        rewrite(repository.work / "schools" / "riverside" / "users.yaml", "Joan Smart", "J Smart")
        commit = repository.push("Riverside: the DSL's name")[:12]
        assert wait_until(
            lambda: all(r.serving()["riverside"].endswith(f"git:{commit}") for r in replicas),
            seconds=30,
        )
        after = [replica.serving() for replica in replicas]
        assert all(serving == after[0] for serving in after)
        assert {s: r for s, r in after[0].items() if s != "riverside"} == {
            s: r for s, r in before[0].items() if s != "riverside"
        }

        # A replica killed (as the OOM killer would) and started again.
        loading = restart(replicas[1], proxy, signal.SIGKILL)
        assert loading, "the restarted replica was never seen alive and loading"
        assert "UP" not in loading, loading  # alive, loading: kept out on /readyz
        # Every replica restarted in turn (a rolling update).
        for replica in replicas:
            restart(replica, proxy, signal.SIGTERM)
        answered = load.answered
        assert wait_until(lambda: load.answered >= answered + 100, seconds=60)
    assert load.failures == [], load.failures[:10]
    assert load.answered > 1000
