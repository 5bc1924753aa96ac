"""The forwarder: feeds every configured sink from the audit log, its durable outbox.

For each sink, a pass reads the records after the sink's cursor (``forward_cursors.last_seq``) in
``seq`` order, ``batch_size`` at a time (only the sink's ``categories``, when set; records the filter
skips still move the cursor), sends them, and moves the cursor only after the receiver acknowledged
the batch. A failure leaves the cursor where it is, notes the error word, and the next try comes after
a bounded exponential backoff (1 s doubling up to ``MAX_BACKOFF_SECONDS``): nothing is ever skipped,
so a receiver that comes back gets every record, in order. Delivery is at least once: a crash between
the receiver's acknowledgement and the cursor's commit sends that batch again; every record carries
its ``event_id`` (OCSF: ``metadata.uid``) for the receiver to drop duplicates.

Each sink has its own daemon thread, so a slow, hung or failing receiver never holds back another sink,
and user requests never wait for any: they only append to the log. A forwarder leases a sink before
sending to it (see ``cursors``), so two processes (``serve`` and ``sealroom audit forward``) never feed
one sink at once. Audit records: ``forward.sink.down`` when a sink starts failing and
``forward.sink.up`` when it recovers; nothing per batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final

from sqlalchemy.orm import Session, sessionmaker

from sealroom.audit.log import AuditLog, chain_head
from sealroom.audit.query import row_to_dict
from sealroom.audit.store import events, sealed_select
from sealroom.clock import Clock
from sealroom.config import ForwardingSettings, ForwardSinkSettings
from sealroom.forwarding import cursors
from sealroom.forwarding.results import PassResult
from sealroom.forwarding.sinks import ForwardSink, SendError
from sealroom.forwarding.syslog_sink import SyslogSink
from sealroom.forwarding.webhook_sink import WebhookSink

log = logging.getLogger("sealroom.forwarding")

SYSTEM_ACTOR: Final = "system:forwarding"
BASE_BACKOFF_SECONDS: Final = 1.0
MAX_BACKOFF_SECONDS: Final = 60.0
WAKE_GATHER_SECONDS: Final = 0.1
"""After a wake-up, how long to wait for more records before sending."""
STOP_GRACE_SECONDS: Final = 2.0
"""At ``stop``, how long a batch in flight may finish before its connection is cut."""
STOP_WAIT_SECONDS: Final = 5.0
"""The longest ``stop`` waits for the sink threads in all."""


def build_sink(name: str, settings: ForwardSinkSettings, root: Path) -> ForwardSink:
    """The sink configured as ``[forwarding.sinks.NAME]`` (nothing is opened until it first sends)."""
    if settings.kind == "syslog":
        return SyslogSink(name, settings, root)
    return WebhookSink(name, settings, root)


def lease_seconds(settings: ForwardSinkSettings) -> float:
    """How long a lease lasts: longer than the slowest batch (connect, handshake, write, read)."""
    return 4 * settings.timeout_seconds + 10


def backoff_seconds(failures: int) -> float:
    """The pause after ``failures`` failures in a row: 1, 2, 4 … seconds, at most ``MAX_BACKOFF_SECONDS``."""
    if failures <= 0:
        return 0.0
    return min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * float(2 ** min(failures - 1, 16)))


class Forwarder:
    """Feeds the configured sinks: ``run_once`` for one pass, ``start``/``stop`` for background threads."""

    def __init__(
        self,
        settings: ForwardingSettings,
        sessions: sessionmaker[Session],
        audit: AuditLog,
        clock: Clock,
        root: Path,
        *,
        actor: str = SYSTEM_ACTOR,
        sink_factory: Callable[[str, ForwardSinkSettings, Path], ForwardSink] = build_sink,
    ) -> None:
        self._settings = settings
        self._db = sessions
        self._audit = audit
        self._clock = clock
        self._actor = actor
        self._owner = cursors.new_owner()
        self._sinks = {name: sink_factory(name, sink, root) for name, sink in settings.sinks.items()}
        self._stop = threading.Event()
        self._wakes = {name: threading.Event() for name in self._sinks}
        self._threads: dict[str, threading.Thread] = {}
        self._lingering: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def sinks(self) -> list[str]:
        """The configured sink names."""
        return list(self._sinks)

    @property
    def owner(self) -> str:
        """This forwarder's lease-owner id (``host:pid:nonce``)."""
        return self._owner

    @property
    def running(self) -> bool:
        """Whether background threads run (``start`` was called and ``stop`` not yet)."""
        return bool(self._threads)

    def run_once(self) -> list[PassResult]:
        """One pass over every sink at once (each up to the head as it is now), then the leases are
        given up and connections closed. Never raises for a sink's failure: its result carries it.

        Raises ``RuntimeError`` while this forwarder's own threads run (they share its lease).
        """
        if not self._sinks:
            return []
        with self._lock:
            if self._threads:
                raise RuntimeError("this forwarder is running in the background; use another for one pass")
            self._stop.clear()
        with self._db() as db:
            head = _head_seq(db)
        with ThreadPoolExecutor(max_workers=len(self._sinks), thread_name_prefix="sealroom-forward") as pool:
            futures = [pool.submit(self._guarded_drain, name, head) for name in self._sinks]
            results = [future.result() for future in futures]
        for name, sink in self._sinks.items():
            sink.close()
            self._release(name)
        return results

    def drain(self, name: str, until_seq: int | None = None) -> PassResult:
        """Send ``name``'s undelivered records, batch by batch, until it is caught up (with the head
        at each batch, or ``until_seq``), a batch fails, the lease is lost or ``stop`` is called.

        Raises only for database errors (``AuditUnavailableError`` included).
        """
        sink_settings = self._settings.sinks[name]
        sink = self._sinks[name]
        cursor = cursors.ensure(self._db, name)
        with self._db() as db:
            head = _head_seq(db) if until_seq is None else until_seq
        if cursor.last_seq >= head:
            return PassResult(name, from_seq=cursor.last_seq, to_seq=cursor.last_seq)
        seconds = lease_seconds(sink_settings)
        leased = cursors.take_lease(self._db, name, self._owner, self._clock.now(), seconds)
        if leased is None:
            held = cursors.ensure(self._db, name)
            return PassResult(name, from_seq=held.last_seq, to_seq=held.last_seq, busy=held.lease_owner)
        start = last = leased.last_seq
        sent = skipped = 0
        while last < head and not self._stop.is_set():
            records, window_end = self._batch(sink_settings, last, head)
            if records:
                try:
                    sink.send(records)
                except SendError as exc:
                    return self._failed(name, exc.kind, start, last, sent, skipped)
            moved = cursors.advance(
                self._db, self._audit, self._actor, sink=name, owner=self._owner, from_seq=last,
                to_seq=window_end, sent=len(records), now=self._clock.now(), lease_seconds=seconds,
            )  # fmt: skip
            if not moved:  # the lease ran out and another forwarder took over: it resends from there
                return PassResult(name, sent, skipped, start, last, busy="lease_lost")
            sent += len(records)
            skipped += window_end - last - len(records)  # seqs have no gaps
            last = window_end
            if until_seq is None and last >= head:
                with self._db() as db:
                    head = _head_seq(db)
        return PassResult(name, sent, skipped, start, last)

    def start(self) -> None:
        """Start one daemon thread per sink (idempotent; nothing to do without sinks)."""
        with self._lock:
            self._lingering = [thread for thread in self._lingering if thread.is_alive()]
            if self._threads:
                return
            if self._lingering:  # a thread of the last run still sends: never two feeding one sink
                log.warning("forwarding not restarted: a sink thread of the last run has not stopped yet")
                return
            self._stop.clear()
            for name in self._sinks:
                thread = threading.Thread(
                    target=self._work, args=(name,), name=f"sealroom-forward-{name}", daemon=True
                )
                self._threads[name] = thread
                thread.start()

    def wake(self) -> None:
        """Look for new records now instead of at the next poll (a sink in backoff keeps waiting).

        ``Workspace`` calls it after every commit of its sessions, so ``serve`` forwards within moments.
        """
        for event in self._wakes.values():
            event.set()

    def stop(self) -> None:
        """Stop the threads (bounded wait: a batch in flight gets ``STOP_GRACE_SECONDS``, then its
        connection is cut and it is sent again by the next forwarder) and give the leases up."""
        self._stop.set()
        self.wake()
        with self._lock:
            threads, self._threads = self._threads, {}
        for thread in threads.values():
            thread.join(STOP_GRACE_SECONDS / max(1, len(threads)))
        for sink in self._sinks.values():
            sink.close()
        for thread in threads.values():
            thread.join(STOP_WAIT_SECONDS / max(1, len(threads)))
        for name, thread in threads.items():
            if thread.is_alive():
                log.warning("forwarding to sink %s did not stop in time; its lease runs out", name)
                with self._lock:
                    self._lingering.append(thread)
            else:
                self._release(name)

    # Internals.

    def _batch(
        self, settings: ForwardSinkSettings, after: int, head: int
    ) -> tuple[list[dict[str, Any]], int]:
        """The next records after ``after`` (up to ``head``) that the sink takes, and the seq the
        cursor may move to once they are acknowledged."""
        seq = events.c.seq
        with self._db() as db:
            conn = db.connection()
            stmt = sealed_select(conn.dialect.name).where(seq > after, seq <= head)
            if settings.categories:
                stmt = stmt.where(events.c.category.in_(settings.categories))
            rows = conn.execute(stmt.order_by(seq).limit(settings.batch_size)).all()
        records = [row_to_dict(tuple(row)) for row in rows]
        # Fewer than a full batch: nothing else up to the head matches, so the cursor may go there
        # (records are visible in seq order: each append holds the head lock until it commits).
        window_end = int(records[-1]["seq"]) if len(records) == settings.batch_size else head
        return records, window_end

    def _failed(self, name: str, kind: str, start: int, last: int, sent: int, skipped: int) -> PassResult:
        if self._stop.is_set():  # cut off by ``stop``: not the receiver's failure
            return PassResult(name, sent, skipped, start, last)
        failures = cursors.record_failure(
            self._db, self._audit, self._actor, sink=name, owner=self._owner, kind=kind, now=self._clock.now()
        )
        if failures == 1:
            log.warning("forwarding to sink %s is failing (%s); records wait in the audit log", name, kind)
        return PassResult(name, sent, skipped, start, last, error=kind, failures=failures)

    def _release(self, name: str) -> None:
        try:
            cursors.release_lease(self._db, name, self._owner)
        except Exception as exc:  # the lease simply runs out
            log.error("could not release the lease of sink %s: %s", name, type(exc).__name__)

    def _guarded_drain(self, name: str, until_seq: int | None = None) -> PassResult:
        try:
            return self.drain(name, until_seq)
        except Exception as exc:  # the database is away, or the audit log refused the record
            log.error("forwarding to sink %s: pass failed (%s)", name, type(exc).__name__)
            return PassResult(name, error="database_error", failures=1)

    def _work(self, name: str) -> None:
        wake = self._wakes[name]
        was_failing = False
        renew_at = 0.0
        while not self._stop.is_set():
            result = self._guarded_drain(name)
            if result.failed:
                was_failing = True
                # New records do not cut a backoff short (the failure's own record would otherwise
                # wake the thread at once, and a down receiver would be hammered).
                self._stop.wait(backoff_seconds(result.failures))
                wake.clear()
                continue
            if was_failing and result.sent:
                log.warning("forwarding to sink %s recovered", name)
                was_failing = False
            if time.monotonic() >= renew_at:
                # Hold the lease while idle too: the status then shows who feeds the sink, and a
                # second forwarder stays out instead of taking turns.
                self._heartbeat(name)
                renew_at = time.monotonic() + lease_seconds(self._settings.sinks[name]) / 3
            if wake.wait(self._settings.poll_seconds):
                # Woken by a commit: let a burst of records gather into one batch.
                self._stop.wait(WAKE_GATHER_SECONDS)
            wake.clear()

    def _heartbeat(self, name: str) -> None:
        try:
            seconds = lease_seconds(self._settings.sinks[name])
            cursors.take_lease(self._db, name, self._owner, self._clock.now(), seconds)
        except Exception as exc:  # the next pass tries again
            log.error("could not renew the lease of sink %s: %s", name, type(exc).__name__)


def _head_seq(db: Session) -> int:
    head = chain_head(db)
    return 0 if head is None else head.seq
