"""The decision log's lines: what they hold and never hold, and how they are written."""

from __future__ import annotations

import json
import os
from pathlib import Path

from alertpolicy.engine.check.build import load_policy
from alertpolicy.engine.check.incident import parse_incident
from alertpolicy.engine.decide.compiled import compile_policy
from alertpolicy.engine.decide.evaluate import evaluate_incident
from alertpolicy.engine.serve.clock import utc_now
from alertpolicy.engine.serve.decisionlog import decision_record
from alertpolicy.engine.serve.logwriter import LineWriter
from tests.serve.support import SMALL_SCHOOL, fill, incident, wait_until


def test_a_decision_line_names_no_student_nor_student_group() -> None:
    policy = load_policy(SMALL_SCHOOL)
    raw = {
        **incident("serve-looked-after"),
        "categories": ["Attendance"],
        "students": [{"id": "S1042", "groups": ["Year 7", "Child Protection Plan"]}],
        "alerts": {},
    }
    parsed = parse_incident(raw, policy)
    with compile_policy(policy) as compiled:
        decision = evaluate_incident(compiled, parsed)
    matched = [dict(r.matched) for rec in decision.recipients for r in rec.reasons]
    assert {"category": "Attendance", "student_group": "Year 7"} in matched  # the answer does
    line = json.dumps(decision_record(decision, parsed, utc_now()))
    for secret in ("S1042", "Year 7", "Child Protection Plan", "Amelia Hart", "Jane Smith"):
        assert secret not in line
    record = json.loads(line)
    mokafor = next(r for r in record["recipients"] if r["user"] == "mokafor")
    assert mokafor["reasons"] == [
        {
            "source": "automatic_alert",
            "rule": "year7-attendance-to-head-of-year",
            "matched": {"category": "Attendance"},
        }
    ]


def test_lines_that_cannot_wait_are_dropped_and_counted_then_the_rest_written(
    small_disk: Path,
) -> None:
    dropped: list[int] = []
    errors: list[OSError] = []
    writer = LineWriter(
        small_disk / "log.jsonl", capacity=3, on_dropped=dropped.append, on_error=errors.append
    )
    filler = fill(small_disk)
    for n in range(10):
        writer.put({"event": "decision", "incident": f"INC-{n}", "note": "x" * 2000})
    assert wait_until(lambda: bool(errors))
    status = writer.status()
    assert status["dropped"] == len(dropped) >= 5
    assert "No space left on device" in status["last_error"]
    filler.unlink()
    assert wait_until(lambda: writer.status()["written"] == 10 - len(dropped))
    writer.close()
    lines = (small_disk / "log.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 10 - len(dropped)
    assert all(json.loads(line)["note"] == "x" * 2000 for line in lines)


def test_a_batch_the_disk_has_no_room_for_leaves_the_file_untouched(small_disk: Path) -> None:
    # Not written part-way and cut back: a program tailing the log never reads a piece of
    # a line that is then taken back.
    log_file = small_disk / "log.jsonl"
    errors: list[OSError] = []
    writer = LineWriter(log_file, on_error=errors.append)
    writer.put({"event": "reload"})
    assert wait_until(lambda: writer.status()["written"] == 1)
    filler = fill(small_disk)
    os.truncate(filler, filler.stat().st_size - 16384)  # room for a part of the next line
    before = log_file.stat()
    writer.put({"event": "decision", "note": "x" * 64_000})
    assert wait_until(lambda: bool(errors))
    after = log_file.stat()
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    filler.unlink()
    assert wait_until(lambda: writer.status()["written"] == 2)
    writer.close()
    lines = log_file.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["event"] for line in lines] == ["reload", "decision"]


def test_a_closed_writer_drops_what_comes_after(tmp_path: Path) -> None:
    writer = LineWriter(tmp_path / "log.jsonl")
    assert writer.put({"event": "reload"})
    writer.close()
    assert not writer.put({"event": "late"})
    assert writer.status()["dropped"] == 1
    assert (tmp_path / "log.jsonl").read_text(encoding="utf-8") == '{"event":"reload"}\n'
