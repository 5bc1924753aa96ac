"""Verification finds and names every kind of tampering an insider with database access can do."""

from __future__ import annotations

import pytest

from sealroom.audit.log import ChainHead
from sealroom.audit.verify import VerifyReport, verify_chain

from .conftest import Chain

N = 10
COLS = "seq, event_id, ts, category, action, outcome, actor, details, prev_mac, mac"


def verify(chain: Chain, **kwargs: object) -> VerifyReport:
    with chain.sessions() as db:
        return verify_chain(db, chain.key, **kwargs)  # type: ignore[arg-type]


def macs(chain: Chain) -> dict[int, str]:
    return {int(seq): str(mac) for seq, mac in chain.sql("SELECT seq, mac FROM audit_events")}


@pytest.fixture
def built(chain: Chain) -> Chain:
    chain.add(N)
    return chain


def test_an_untouched_chain_verifies(built: Chain) -> None:
    report = verify(built)
    assert report.ok and report.checked == N and report.problem is None and report.first_bad_seq is None
    assert report.last_seq == N and report.last_mac == macs(built)[N]


def test_an_empty_log_verifies(chain: Chain) -> None:
    assert verify(chain) == VerifyReport(ok=True, checked=0)


def test_the_wrong_key_fails_at_record_1(built: Chain) -> None:
    with built.sessions() as db:
        report = verify_chain(db, b"x" * 32)
    assert not report.ok and report.first_bad_seq == 1


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE audit_events SET actor = 'someone-else' WHERE seq = 4",
        "UPDATE audit_events SET reason = 'innocent' WHERE seq = 4",
        "UPDATE audit_events SET image_id = NULL WHERE seq = 4",
        "UPDATE audit_events SET outcome = 'deny' WHERE seq = 4",
        "UPDATE audit_events SET event_id = 'ffffffffffffffffffffffffffffffff' WHERE seq = 4",
    ],
)
def test_an_edited_field_is_named(built: Chain, edit: str) -> None:
    built.sql(edit)
    report = verify(built)
    assert not report.ok
    assert report.first_bad_seq == 4
    assert report.problem == "record 4: contents do not match its seal (edited or forged)"
    assert report.checked == 3


def test_edited_details_and_time_are_caught(built: Chain) -> None:
    as_json = "CAST(:d AS json)" if built.dialect == "postgresql" else ":d"
    built.sql(f"UPDATE audit_events SET details = {as_json} WHERE seq = 6", d='{"engine":"local","pages":99}')
    if built.dialect == "postgresql":
        built.sql("UPDATE audit_events SET ts = ts + interval '1 microsecond' WHERE seq = 8")
    else:
        built.sql("UPDATE audit_events SET ts = '2030-01-07 09:00:07.000001' WHERE seq = 8")
    assert verify(built).first_bad_seq == 6
    # the same content in other JSON spelling is still an edit of the sealed text
    built.sql(
        f"UPDATE audit_events SET details = {as_json} WHERE seq = 6", d='{"pages": 5, "engine": "local"}'
    )
    assert verify(built).first_bad_seq == 6
    built.sql(f"UPDATE audit_events SET details = {as_json} WHERE seq = 6", d='{"engine":"local","pages":5}')
    assert verify(built).first_bad_seq == 8


def test_a_deleted_record_is_named(built: Chain) -> None:
    built.sql("DELETE FROM audit_events WHERE seq = 5")
    report = verify(built)
    assert not report.ok and report.first_bad_seq == 5
    assert report.problem == "record 5 is missing (deleted)"


def test_deleted_and_renumbered_records_are_named(built: Chain) -> None:
    built.sql("DELETE FROM audit_events WHERE seq IN (5, 6)")
    for seq in range(7, N + 1):
        built.sql("UPDATE audit_events SET seq = :new WHERE seq = :old", new=seq - 2, old=seq)
    built.sql("UPDATE audit_head SET seq = seq - 2")
    report = verify(built)
    assert not report.ok and report.first_bad_seq == 5
    assert "does not follow record 4" in (report.problem or "")


def test_an_inserted_record_is_named(built: Chain) -> None:
    m = macs(built)
    for seq in range(N, 5, -1):  # make room at 6
        built.sql("UPDATE audit_events SET seq = :new WHERE seq = :old", new=seq + 1, old=seq)
    built.sql(
        f"INSERT INTO audit_events ({COLS}) "
        "SELECT 6, 'forged0000000000000000000000000', ts, category, action, outcome, 'ghost', details, "
        ":prev, :fake FROM audit_events WHERE seq = 5",
        prev=m[5], fake="0" * 63 + "1",
    )  # fmt: skip
    built.sql("UPDATE audit_head SET seq = seq + 1")
    report = verify(built)
    assert not report.ok and report.first_bad_seq == 6
    assert report.problem == "record 6: contents do not match its seal (edited or forged)"


def test_a_record_added_beyond_the_head_is_named(built: Chain) -> None:
    built.sql(
        f"INSERT INTO audit_events ({COLS}) "
        "SELECT 11, 'extra00000000000000000000000000', ts, category, action, outcome, actor, details, "
        "mac, mac "
        "FROM audit_events WHERE seq = 10"
    )
    report = verify(built)
    assert not report.ok and report.first_bad_seq == 11
    assert "beyond the chain head" in (report.problem or "")


def test_swapped_records_are_named(built: Chain) -> None:
    # whole rows trade places, seals included
    built.sql("UPDATE audit_events SET seq = 100 WHERE seq = 3")
    built.sql("UPDATE audit_events SET seq = 3 WHERE seq = 4")
    built.sql("UPDATE audit_events SET seq = 4 WHERE seq = 100")
    report = verify(built)
    assert not report.ok and report.first_bad_seq == 3
    assert "does not follow record 2" in (report.problem or "")


def test_swapped_contents_under_fixed_numbers_are_named(built: Chain) -> None:
    built.sql(
        "UPDATE audit_events SET actor = CASE seq WHEN 3 THEN 'user1' ELSE 'user2' END WHERE seq IN (3, 4)"
    )
    report = verify(built)
    assert not report.ok and report.first_bad_seq == 3


def test_a_truncated_tail_is_named(built: Chain) -> None:
    built.sql("DELETE FROM audit_events WHERE seq >= 9")
    report = verify(built)
    assert not report.ok and report.first_bad_seq == 9
    assert report.problem == "records 9 to 10 are missing (truncated; the chain head is at 10)"
    assert report.checked == 8


def test_a_truncation_that_rewinds_the_head_needs_an_anchor(built: Chain) -> None:
    anchor = ChainHead(N, macs(built)[N])
    m8 = macs(built)[8]
    built.sql("DELETE FROM audit_events WHERE seq >= 9")
    built.sql("UPDATE audit_head SET seq = 8, mac = :mac", mac=m8)
    assert verify(built).ok  # a shorter, valid chain ...
    report = verify(built, anchor=anchor)  # ... but not the one anchored earlier
    assert not report.ok and report.first_bad_seq == N and "anchor" in (report.problem or "")


def test_an_edited_head_is_named(built: Chain) -> None:
    built.sql("UPDATE audit_head SET mac = :mac", mac="a" * 64)
    report = verify(built)
    assert not report.ok and report.first_bad_seq == N and "head" in (report.problem or "")


def test_a_deleted_head_is_reported(built: Chain) -> None:
    built.sql("DELETE FROM audit_head")
    report = verify(built)
    assert not report.ok and report.problem == "the chain head is missing (deleted)"


def test_a_range_can_be_verified(built: Chain) -> None:
    built.sql("UPDATE audit_events SET actor = 'x' WHERE seq = 8")
    report = verify(built, start_seq=4, end_seq=7)
    assert report.ok and report.checked == 4 and report.last_seq == 7
    assert verify(built, start_seq=4).first_bad_seq == 8
    assert verify(built, end_seq=7).ok


def test_a_range_after_a_deleted_record_is_refused(built: Chain) -> None:
    built.sql("DELETE FROM audit_events WHERE seq = 3")
    report = verify(built, start_seq=4)
    assert not report.ok and report.first_bad_seq == 3


def test_small_batches_find_the_same_fault(built: Chain) -> None:
    built.sql("DELETE FROM audit_events WHERE seq = 7")
    with built.sessions() as db:
        report = verify_chain(db, built.key, batch_size=3)
    assert report.first_bad_seq == 7 and report.checked == 6


def test_garbage_written_behind_sqlites_back_is_reported_not_crashing(sqlite_chain: Chain) -> None:
    sqlite_chain.add(5)
    sqlite_chain.sql("UPDATE audit_events SET actor = CAST(x'ff00fe' AS TEXT) WHERE seq = 2")
    report = verify(sqlite_chain)
    assert not report.ok and report.first_bad_seq == 2
    sqlite_chain.sql("UPDATE audit_events SET actor = 12345 WHERE seq = 2")
    assert verify(sqlite_chain).first_bad_seq == 2
