"""Rows files survive a killed writer and two writers at once (studies sharing an output directory)."""

from __future__ import annotations

import multiprocessing as mp
from pathlib import Path

from symmpo.files import append_jsonl, read_jsonl


def _writer(path: str, who: int, batches: int) -> None:
    for b in range(batches):
        # rows far larger than a pipe/page buffer, so an unlocked append would be split into several writes
        append_jsonl(Path(path), [{"who": who, "batch": b, "i": i, "pad": "x" * 5000} for i in range(8)])


def test_concurrent_appends_never_interleave(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(path), w, 15)) for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    rows = read_jsonl(path)
    assert len(rows) == 3 * 15 * 8
    assert {(r["who"], r["batch"], r["i"]) for r in rows} == {
        (w, b, i) for w in range(3) for b in range(15) for i in range(8)
    }
    assert len(path.read_text().splitlines()) == len(rows)


def test_a_torn_last_line_is_kept_apart(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    append_jsonl(path, [{"a": 1}])
    with open(path, "a") as f:
        f.write('{"a": 2, "cut')  # a writer killed mid-line
    append_jsonl(path, [{"a": 3}])
    assert [r["a"] for r in read_jsonl(path)] == [1, 3]
