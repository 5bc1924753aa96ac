"""The forwarder as operators run it (``sealroom audit forward --follow``), killed mid-stream and
restarted; and two forwarders on one workspace, which never feed one sink at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from sealroom.clock import ManualClock
from sealroom.forwarding import cursors
from sealroom.workspace import Workspace
from tests.forwarding import append_events, deduplicated, head_seq, new_workspace, sink_toml, webhook_events
from tests.receivers import WebhookReceiver


def _until(
    condition: Callable[[], bool], timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process is not None and process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"the forwarder exited ({process.returncode}): {output}")
        assert time.monotonic() < deadline, "the condition was not met in time"
        time.sleep(0.05)


def _forwarder(root: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "sealroom.cli.main", "audit", "forward", "--follow", "-w", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _fast_polling(root: Path) -> None:
    path = root / "sealroom.toml"
    path.write_text(path.read_text().replace("poll_seconds = 2\n", "poll_seconds = 0.1\n"))


def test_a_killed_forwarder_loses_nothing_and_repeats_only_what_was_in_flight(tmp_path: Path) -> None:
    with WebhookReceiver() as hook:
        hook.release.clear()  # the first batch hangs at the receiver
        hook.hold_limit = 60
        sink = sink_toml("lake", kind="webhook", url=hook.url, batch_size=20, timeout_seconds=30)
        root = new_workspace(tmp_path / "ws", sink)
        _fast_polling(root)
        workspace = Workspace.open(root)
        first = second = None
        try:
            append_events(workspace, 50)
            first = _forwarder(root)
            _until(lambda: hook.held == 1, process=first)
            append_events(workspace, 50)  # the workspace goes on while the receiver hangs
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            assert first.returncode == -signal.SIGKILL
            in_flight = [int(e["seq"]) for e in webhook_events(hook, answered=None)]
            assert in_flight == list(range(1, 21))  # the batch the killed process never saw answered
            hook.release.set()

            second = _forwarder(root)  # takes the sink over at once: the old holder's process is gone
            target = head_seq(workspace)
            _until(lambda: deduplicated(webhook_events(hook, answered=None))[-1:] == [target], process=second)
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=20) == 0
        finally:
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.kill()
                    process.wait()
            workspace.close()

    received = webhook_events(hook, answered=None)
    assert deduplicated(received) == list(range(1, target + 1))  # every record, in order, no gap
    seen: set[str] = set()
    repeated = []
    for event in received:
        if event["event_id"] in seen:
            repeated.append(int(event["seq"]))
        seen.add(event["event_id"])
    assert repeated == list(range(1, 21))  # at least once: only the batch in flight came twice
    assert len({e["event_id"] for e in received}) == target


def test_a_second_forwarder_finds_the_sink_leased_and_sends_nothing(tmp_path: Path) -> None:
    with WebhookReceiver() as hook:
        hook.release.clear()
        hook.hold_limit = 30
        sink = sink_toml("lake", kind="webhook", url=hook.url, batch_size=10, timeout_seconds=30)
        root = new_workspace(tmp_path / "ws", sink)
        _fast_polling(root)
        workspace = Workspace.open(root)
        other = Workspace.open(root)  # as a second process would
        try:
            append_events(workspace, 25)
            workspace.forwarder.start()
            _until(lambda: hook.held == 1)
            [result] = other.forwarder_as("operator:test").run_once()
            assert result.busy == workspace.forwarder.owner and result.sent == 0
            assert len(hook.requests) == 1  # the held batch was not sent a second time alongside
            hook.release.set()
            _until(lambda: len(webhook_events(hook)) >= 25)
        finally:
            hook.release.set()
            workspace.close()
            other.close()
        events = webhook_events(hook)
        assert [int(e["seq"]) for e in events] == list(range(1, 26))  # each batch went once
        assert all(r.answered == 200 for r in hook.requests)


def test_an_expired_or_orphaned_lease_can_be_taken_and_a_live_one_cannot(tmp_path: Path) -> None:
    root = new_workspace(tmp_path / "ws", sink_toml("lake", kind="webhook", url="http://127.0.0.1:9/x"))
    clock = ManualClock()
    workspace = Workspace.open(root, clock=clock)
    try:
        cursors.ensure(workspace.db, "lake")
        now = clock.now()
        assert cursors.take_lease(workspace.db, "lake", "a:1:x", now, 30) is not None
        assert cursors.take_lease(workspace.db, "lake", "b:2:y", now + timedelta(seconds=29), 30) is None
        taken = cursors.take_lease(workspace.db, "lake", "b:2:y", now + timedelta(seconds=31), 30)
        assert taken is not None and taken.lease_owner == "b:2:y"

        # A holder on this host whose process is gone gives way before its lease runs out.
        gone = subprocess.Popen([sys.executable, "-c", "pass"])
        gone.wait()
        dead_owner = f"{cursors.new_owner().rsplit(':', 2)[0]}:{gone.pid}:dead"
        assert (
            cursors.take_lease(workspace.db, "lake", dead_owner, now + timedelta(seconds=62), 30) is not None
        )
        mine = cursors.new_owner()
        assert cursors.take_lease(workspace.db, "lake", mine, now + timedelta(seconds=63), 30) is not None
        # ... but one whose process lives (this one) keeps it.
        assert os.getpid() == int(mine.rsplit(":", 2)[1])
        local_other = f"{mine.rsplit(':', 2)[0]}:{os.getpid()}:other"
        assert cursors.take_lease(workspace.db, "lake", local_other, now + timedelta(seconds=64), 30) is None
    finally:
        workspace.close()
