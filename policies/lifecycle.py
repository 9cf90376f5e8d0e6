"""Per-process policy loading and live switching: the active policy comes from PostgreSQL at start
(seeded from the policy file when none was ever applied) and a listener thread swaps in every new
activation within about a second (LISTEN/NOTIFY), with a slower poll as a safety net."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import psycopg

from gate.db import Conn, connect
from gate.web import AppContext
from policies import store, versions
from policies.service import ActivePolicy, PolicyHolder, PolicyInvalid

log = logging.getLogger(__name__)

CHANNEL = "cameogate_policy"  # notified by the policy_activations trigger (migrations/0600)
# NOTIFY is the fast path; the poll catches a notification lost with a dropped connection.
POLL_SECONDS = 5.0
WAIT_SECONDS = 0.5  # longest a stop() waits for the thread to notice
RECONNECT_SECONDS = 2.0


class PolicyListener:
    """Keeps one PolicyHolder on the active stored policy, on its own connection and thread."""

    def __init__(
        self,
        conninfo: str,
        holder: PolicyHolder,
        *,
        poll_seconds: float = POLL_SECONDS,
        on_change: Callable[[ActivePolicy], None] | None = None,
    ) -> None:
        self._conninfo = conninfo
        self._holder = holder
        self._poll = poll_seconds
        self._on_change = on_change
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        self.listening = threading.Event()  # set once LISTEN is in place (tests and probes wait on it)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="policy-listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=WAIT_SECONDS * 4)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def refresh(self, conn: Conn) -> bool:
        """Swap in the active stored policy if it differs from the holder's; True when swapped."""
        # The digest first: parsing and validating the document holds the GIL for ~50 ms on a
        # slow host, which every request of the process waited out, on every poll (issue #4).
        if self.last_error is None and store.active_sha256(conn) == self._holder.current.sha256:
            return False
        try:
            found = versions.load_active(conn)
        except PolicyInvalid as exc:
            # Validated when applied; failing now means this code's schema changed under it.
            # Keep serving the last good policy and say so on /readyz.
            self.last_error = f"stored policy no longer validates: {exc}"
            log.error(self.last_error)
            return False
        self.last_error = None
        if found is None or found.sha256 == self._holder.current.sha256:
            return False
        self._holder.replace(found)
        log.info("policy switched to version %s (%s)", found.version, found.sha256[:12])
        if self._on_change is not None:
            self._on_change(found)
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    self.last_error = None
                    self.refresh(conn)  # catch up on anything missed while not listening
                    polled = time.monotonic()
                    while not self._stop.is_set():
                        heard = list(conn.notifies(timeout=WAIT_SECONDS, stop_after=1))
                        if heard or time.monotonic() - polled >= self._poll:
                            self.refresh(conn)
                            polled = time.monotonic()
            except psycopg.Error as exc:
                self.listening.clear()
                self.last_error = f"policy listener disconnected: {exc}"
                log.warning(self.last_error)
                self._stop.wait(RECONNECT_SECONDS)
            except Exception as exc:  # never let the thread die: a stale policy is worse than a retry
                self.last_error = f"policy listener failed: {exc}"
                log.exception("policy listener failed")
                self._stop.wait(RECONNECT_SECONDS)


def start(ctx: AppContext) -> None:
    """Load (or seed) the active policy, then keep this process on it."""
    startup_error = None
    try:
        with ctx.pool.connection() as conn:
            ctx.policies.replace(versions.ensure_active(conn, default=ctx.policies.current))
    except PolicyInvalid as exc:
        # The stored policy does not validate under this code (a schema change): serve the file's
        # policy but report not-ready until an operator applies one that does.
        startup_error = f"stored policy no longer validates: {exc}"
        log.error(startup_error)
    conninfo = ctx.pool.conninfo
    assert isinstance(conninfo, str)  # our pool is built from a URL (gate.db.open_pool)
    listener = PolicyListener(conninfo, ctx.policies)
    listener.last_error = startup_error
    listener.start()
    ctx.services["policy_listener"] = listener
    ctx.readiness["policy"] = lambda: (
        None
        if listener.alive and not listener.last_error
        else (listener.last_error or "policy listener stopped")
    )


def stop(ctx: AppContext) -> None:
    found = ctx.services.pop("policy_listener", None)
    if found is not None:
        found.stop()


def listener(ctx: AppContext) -> PolicyListener:
    found: PolicyListener = ctx.services["policy_listener"]
    return found
