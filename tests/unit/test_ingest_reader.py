"""The CSV reader on its own: records Arrow refuses or reads oddly keep their lines, raw values and reasons."""

from __future__ import annotations

from pathlib import Path

from gyre.ingest.reader import read_chunks
from gyre.validation.contract import LABELS

HEADER = b"transaction_id,reported_at,reason_code\n"


def _read(path: Path, content: bytes, chunk_rows: int = 2) -> tuple[str, dict[int, dict], dict[int, tuple]]:
    path.write_bytes(content)
    layout, chunks = read_chunks(path, LABELS, chunk_rows)
    rows, rejected = {}, {}
    for chunk in chunks:
        for row in chunk.rows.to_pylist():
            rows[row.pop("line_number")] = row
        rejected.update({r.line: (r.raw, r.reasons) for r in chunk.rejected})
    return layout.encoding, rows, rejected


def test_a_short_record_with_undecodable_bytes_is_quarantined_as_written(tmp_path: Path) -> None:
    content = HEADER + "T1,caf\u00e9,10.4\n".encode() + b"T2,\xff\xfe\nT3,x\xff,10.5\nT4,2035,4837\n"
    encoding, rows, rejected = _read(tmp_path / "labels.csv", content)
    assert encoding == "utf-8"
    assert rejected == {
        3: ({"transaction_id": "T2", "reported_at": "\\xff\\xfe"}, ["expected 3 fields, found 2"]),
        4: ({"transaction_id": "T3", "reported_at": "x\\xff", "reason_code": "10.5"}, ["invalid UTF-8 bytes"]),
    }
    assert sorted(rows) == [2, 5]
    assert rows[2]["reported_at"] == "caf\u00e9"


def test_an_empty_line_is_not_a_record_but_a_line_of_separators_is(tmp_path: Path) -> None:
    content = HEADER + b'T1,a,b\n\n,,\r\n\r\n"T2\nsplit",c,d\nT3,e\n   \n'
    _, rows, rejected = _read(tmp_path / "labels.csv", content)
    assert rows == {
        2: {"transaction_id": "T1", "reported_at": "a", "reason_code": "b"},
        4: {"transaction_id": None, "reported_at": None, "reason_code": None},
        6: {"transaction_id": "T2\nsplit", "reported_at": "c", "reason_code": "d"},
    }
    assert rejected == {8: ({"transaction_id": "T3", "reported_at": "e"}, ["expected 3 fields, found 2"])}
