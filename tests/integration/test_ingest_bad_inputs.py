"""Each bad input upstream can send: every record is loaded or quarantined, with the right reasons.

Files are small copies of a generated day with one defect each; ``max_bad_share=1`` lets a batch with
bad rows load, so the loaded/quarantined accounting can be checked through the database itself.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import psycopg
import pytest

from gyre.data import source
from gyre.ingest.load import BatchRejected, IngestReport, ingest
from tests.integration import ingest_support

pytestmark = pytest.mark.integration
conninfo = ingest_support.conninfo
_DAYS = (dt.date(2032, 1, 1) + dt.timedelta(days=i) for i in itertools.count())


def _rows(day: dt.date, n: int = 40) -> list[list[str]]:
    """The first ``n`` transactions of the day as CSV text fields, with ids unique to the day."""
    frame = source.export(source.transactions(5, day), 5, day, "baseline").head(n)
    frame["event_timestamp"] = frame["event_timestamp"].map(lambda t: t.isoformat())
    return [frame.columns.tolist(), *frame.astype(str).to_numpy().tolist()]


def _csv(rows: list[list[str]]) -> str:
    import csv
    import io

    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


def _land(tmp_path: Path, day: dt.date, content: str | bytes, name: str = "transactions.csv") -> Path:
    folder = tmp_path / day.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def _load(tmp_path: Path, day: dt.date, conninfo: str) -> IngestReport:
    report = ingest("transactions", day, landing=tmp_path, conninfo=conninfo, max_bad_share=1.0)
    assert report.rows_in == report.rows_loaded + report.rows_quarantined
    with psycopg.connect(conninfo) as conn:
        loaded = conn.execute("select count(*) from transactions where event_timestamp::date = %s", (day,)).fetchone()
        quarantined = conn.execute(
            "select count(*) from quarantine where feed = 'transactions' and batch_date = %s", (day,)
        ).fetchone()
        audit = conn.execute(
            "select sum(rows_in), sum(rows_loaded), sum(rows_quarantined) from ingest_audit "
            "where feed = 'transactions' and batch_date = %s",
            (day,),
        ).fetchone()
    assert (loaded[0], quarantined[0]) == (report.rows_loaded, report.rows_quarantined)
    assert audit == (report.rows_in, report.rows_loaded, report.rows_quarantined)
    return report


def _quarantine(conninfo: str, day: dt.date) -> dict[int, tuple[dict, list[str]]]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "select line_number, raw, reasons from quarantine where feed = 'transactions' and batch_date = %s",
            (day,),
        ).fetchall()
    return {line: (raw, reasons) for line, raw, reasons in rows}


def _col(rows: list[list[str]], name: str) -> int:
    return rows[0].index(name)


def test_wrong_types(conninfo: str, tmp_path: Path) -> None:
    day = next(_DAYS)
    rows = _rows(day)
    rows[1][_col(rows, "amount")] = "12,50 EUR"
    rows[2][_col(rows, "mcc")] = "54x1"
    rows[3][_col(rows, "event_timestamp")] = "yesterday"
    rows[4][_col(rows, "event_timestamp")] = f"{day}T10:00:00"  # no UTC offset: ambiguous
    _land(tmp_path, day, _csv(rows))
    report = _load(tmp_path, day, conninfo)
    assert (report.rows_in, report.rows_loaded, report.rows_quarantined) == (40, 36, 4)
    found = _quarantine(conninfo, day)
    assert found[2][1] == ["amount is not a number"]
    assert found[2][0]["amount"] == "12,50 EUR"
    assert found[3][1] == ["mcc is not an integer"]
    assert found[4][1] == found[5][1] == ["event_timestamp is not an ISO-8601 timestamp with a UTC offset"]


def test_nulls(conninfo: str, tmp_path: Path) -> None:
    day = next(_DAYS)
    rows = _rows(day)
    rows[1][_col(rows, "amount")] = ""
    rows[2][_col(rows, "customer_id")] = "  "
    rows[3][_col(rows, "card_age_days")] = ""  # optional: still loads
    _land(tmp_path, day, _csv(rows))
    report = _load(tmp_path, day, conninfo)
    assert report.rows_quarantined == 2
    found = _quarantine(conninfo, day)
    assert found[2][1] == ["amount is missing"]
    assert found[3][1] == ["customer_id is missing"]


@pytest.mark.parametrize("defect", ["missing", "renamed"])
def test_a_missing_or_renamed_column_quarantines_every_row_and_fails_the_batch(
    conninfo: str, tmp_path: Path, defect: str
) -> None:
    day = next(_DAYS)
    rows = _rows(day)
    position = _col(rows, "amount")
    if defect == "missing":
        rows = [r[:position] + r[position + 1 :] for r in rows]
    else:
        rows[0][position] = "amt"
    _land(tmp_path, day, _csv(rows))
    with pytest.raises(BatchRejected) as rejected:
        ingest("transactions", day, landing=tmp_path, conninfo=conninfo)
    report = rejected.value.report
    assert (report.rows_in, report.rows_loaded, report.rows_quarantined) == (40, 0, 40)
    assert report.reasons == {"missing column amount": 40}
    assert report.files[0].missing_columns == ["amount"]
    assert report.files[0].extra_columns == ([] if defect == "missing" else ["amt"])
    assert "no valid transaction for the day" in report.failed_rules
    assert _quarantine(conninfo, day) == {}  # a rejected batch writes nothing


def test_an_extra_column_is_recorded_and_ignored(conninfo: str, tmp_path: Path) -> None:
    day = next(_DAYS)
    rows = [r + [v] for r, v in zip(_rows(day), ["note", *["x"] * 40], strict=True)]
    _land(tmp_path, day, _csv(rows))
    report = _load(tmp_path, day, conninfo)
    assert (report.rows_loaded, report.rows_quarantined) == (40, 0)
    assert report.files[0].extra_columns == ["note"]


def test_rows_with_too_few_or_too_many_fields(conninfo: str, tmp_path: Path) -> None:
    day = next(_DAYS)
    rows = _rows(day)
    rows[5] = rows[5][:-1]
    rows[6] = [*rows[6], "surplus", "more"]
    _land(tmp_path, day, _csv(rows))
    report = _load(tmp_path, day, conninfo)
    assert (report.rows_loaded, report.rows_quarantined) == (38, 2)
    found = _quarantine(conninfo, day)
    assert found[6][1] == ["expected 11 fields, found 10"]
    assert found[7][1] == ["expected 11 fields, found 13"]
    assert found[7][0]["_extra_fields"] == ["surplus", "more"]


def test_bad_utf8_bytes_quarantine_only_their_rows(conninfo: str, tmp_path: Path) -> None:
    day = next(_DAYS)
    rows = _rows(day)
    rows[2][_col(rows, "merchant_id")] = "Caf\u00e9-M1"  # valid UTF-8 elsewhere keeps the file UTF-8
    text = _csv(rows).encode("utf-8").replace(rows[3][_col(rows, "customer_id")].encode(), b"C\xff\xfe01")
    _land(tmp_path, day, text)
    report = _load(tmp_path, day, conninfo)
    assert (report.rows_loaded, report.rows_quarantined) == (39, 1)
    raw, reasons = _quarantine(conninfo, day)[4]
    assert reasons == ["invalid UTF-8 bytes"]
    assert raw["customer_id"] == "C\\xff\\xfe01"


def test_a_bom_is_not_part_of_the_first_column(conninfo: str, tmp_path: Path) -> None:
    day = next(_DAYS)
    _land(tmp_path, day, b"\xef\xbb\xbf" + _csv(_rows(day)).encode())
    report = _load(tmp_path, day, conninfo)
    assert (report.rows_loaded, report.rows_quarantined, report.files[0].encoding) == (40, 0, "utf-8-sig")


def test_a_latin1_file_is_decoded_as_latin1(conninfo: str, tmp_path: Path) -> None:
    day = next(_DAYS)
    rows = _rows(day)
    rows[1][_col(rows, "merchant_id")] = "M-Citro\u00ebn-Gen\u00e8ve"
    _land(tmp_path, day, _csv(rows).encode("latin-1"))
    report = _load(tmp_path, day, conninfo)
    assert (report.rows_loaded, report.files[0].encoding) == (40, "latin-1")
    with psycopg.connect(conninfo) as conn:
        ids = conn.execute("select merchant_id from transactions where transaction_id = %s", (rows[1][0],)).fetchone()
    assert ids == ("M-Citro\u00ebn-Gen\u00e8ve",)


def test_quotes_and_newlines_inside_fields_keep_line_numbers_right(conninfo: str, tmp_path: Path) -> None:
    day = next(_DAYS)
    rows = _rows(day)
    rows[1][_col(rows, "merchant_id")] = 'M "quoted", and\nsplit over\nthree lines'
    rows[2][_col(rows, "amount")] = "-5"  # the record after it starts on physical line 5
    _land(tmp_path, day, _csv(rows))
    report = _load(tmp_path, day, conninfo)
    assert (report.rows_loaded, report.rows_quarantined) == (39, 1)
    assert _quarantine(conninfo, day)[5][1] == ["amount is zero or negative"]
    with psycopg.connect(conninfo) as conn:
        kept = conn.execute("select merchant_id from transactions where transaction_id = %s", (rows[1][0],)).fetchone()
    assert kept == (rows[1][_col(rows, "merchant_id")],)


@pytest.mark.parametrize("content", ["", "header-only"])
def test_an_empty_or_header_only_file(conninfo: str, tmp_path: Path, content: str) -> None:
    day = next(_DAYS)
    rows = _rows(day)
    _land(tmp_path, day, "" if content == "" else _csv(rows[:1]), name="transactions_extra.csv")
    with pytest.raises(BatchRejected, match="no valid transaction"):
        ingest("transactions", day, landing=tmp_path, conninfo=conninfo)
    _land(tmp_path, day, _csv(rows))
    report = _load(tmp_path, day, conninfo)
    extra = next(f for f in report.files if f.source_file.endswith("transactions_extra.csv"))
    assert (extra.rows_in, extra.rows_loaded, extra.rows_quarantined) == (0, 0, 0)
    assert report.rows_loaded == 40


def test_duplicate_ids_within_and_across_files_quarantine_every_copy(conninfo: str, tmp_path: Path) -> None:
    day = next(_DAYS)
    rows = _rows(day)
    rows[2][0] = rows[1][0]  # twice in one file
    _land(tmp_path, day, _csv(rows))
    _land(tmp_path, day, _csv([rows[0], rows[10]]), name="transactions_resent.csv")  # again in another file
    report = _load(tmp_path, day, conninfo)
    assert (report.rows_in, report.rows_loaded, report.rows_quarantined) == (41, 37, 4)
    assert report.reasons == {"duplicate transaction_id": 4}


def test_an_id_loaded_for_another_day_is_quarantined(conninfo: str, tmp_path: Path) -> None:
    first, second = next(_DAYS), next(_DAYS)
    rows = _rows(first)
    _land(tmp_path, first, _csv(rows))
    _load(tmp_path, first, conninfo)
    again = _rows(second)
    again[1][0] = rows[1][0]
    _land(tmp_path, second, _csv(again))
    report = _load(tmp_path, second, conninfo)
    assert report.reasons == {"transaction_id loaded for another day": 1}


def test_duplicates_and_known_ids_get_the_same_reasons_whatever_the_chunks(conninfo: str, tmp_path: Path) -> None:
    """Valid rows go into the table chunk by chunk; a key met again in a later chunk or file, or already loaded
    for another day, must still quarantine every copy with the reasons a single chunk gives."""
    from gyre.config import get_settings

    first, day = next(_DAYS), next(_DAYS)
    earlier = _rows(first)
    _land(tmp_path, first, _csv(earlier))
    _load(tmp_path, first, conninfo)
    rows = _rows(day)
    rows[1][0] = earlier[1][0]  # loaded for another day
    rows[30][0] = rows[3][0]  # twice, chunks apart
    rows[5][0] = rows[35][0] = earlier[5][0]  # twice, and loaded for another day
    rows[8][0] = rows[7][0]  # twice in one chunk (GE flags both) ...
    rows[25][0] = rows[7][0]  # ... and once more, valid, in a later chunk
    _land(tmp_path, day, _csv(rows))
    _land(tmp_path, day, _csv([rows[0], rows[12], rows[13]]), name="transactions_resent.csv")  # header, two again
    outcomes = []
    for chunk_rows in (100_000, 6, 1):
        settings = get_settings().model_copy(update={"ingest_chunk_rows": chunk_rows})
        report = ingest("transactions", day, landing=tmp_path, conninfo=conninfo, settings=settings, max_bad_share=1.0)
        assert report.rows_in == report.rows_loaded + report.rows_quarantined == 42
        with psycopg.connect(conninfo) as conn:
            loaded = conn.execute(
                "select * from transactions where event_timestamp::date = %s order by transaction_id", (day,)
            ).fetchall()
            quarantined = conn.execute(  # raw: a row GE refused keeps its text, one moved later its typed values
                "select source_file, line_number, reasons from quarantine "
                "where feed = 'transactions' and batch_date = %s order by source_file, line_number",
                (day,),
            ).fetchall()
        outcomes.append((report.reasons, report.digest, len(loaded), loaded, quarantined))
    assert outcomes[0][0] == {"duplicate transaction_id": 11, "transaction_id loaded for another day": 1}
    assert outcomes[0][2] == 42 - 12
    assert outcomes[1] == outcomes[0]
    assert outcomes[2] == outcomes[0]


def test_timestamps_outside_the_files_day_and_negative_amounts(conninfo: str, tmp_path: Path) -> None:
    day = next(_DAYS)
    rows = _rows(day)
    rows[1][_col(rows, "event_timestamp")] = f"{day + dt.timedelta(days=3)}T09:00:00+00:00"
    rows[2][_col(rows, "event_timestamp")] = f"{day - dt.timedelta(days=1)}T23:59:59Z"
    rows[3][_col(rows, "amount")] = "-19.99"
    rows[4][_col(rows, "amount")] = "0"
    rows[5][_col(rows, "currency")] = "XXX"
    _land(tmp_path, day, _csv(rows))
    report = _load(tmp_path, day, conninfo)
    assert report.rows_quarantined == 5
    assert report.reasons == {
        "event_timestamp after the file's day (future)": 1,
        "event_timestamp before the file's day": 1,
        "amount is zero or negative": 2,
        "unknown currency": 1,
    }
    assert report.docs_path is not None and report.docs_path.is_file()


def _rejection(conninfo: str, day: dt.date) -> tuple | None:
    with psycopg.connect(conninfo) as conn:
        return conn.execute(
            "select rejected_as, reasons, source_files, rows_in, rows_quarantined, row_reasons from ingest_rejection "
            "where feed = 'transactions' and batch_date = %s",
            (day,),
        ).fetchone()


def test_a_field_over_the_limit_quarantines_its_record_and_the_rest_loads(conninfo: str, tmp_path: Path) -> None:
    day = next(_DAYS)
    rows = _rows(day)
    big = "M" * (1 << 20) + "x"
    rows[3][_col(rows, "merchant_id")] = big  # unquoted: the parser resumes on the next line
    rows[7][_col(rows, "merchant_id")] = big + '"quoted"\nover\nlines'  # quoted: skipped to its closing quote
    _land(tmp_path, day, _csv(rows))
    report = _load(tmp_path, day, conninfo)
    assert (report.rows_in, report.rows_loaded, report.rows_quarantined) == (40, 38, 2)
    found = _quarantine(conninfo, day)
    assert set(found) == {4, 8}  # the lines the two records start on
    for raw, reasons in found.values():
        assert reasons == ["unreadable record: field larger than field limit (1048576)"]
        assert raw["merchant_id"] == "M" * 256 + "…"
    assert found[4][0]["transaction_id"] == rows[3][0]
    with psycopg.connect(conninfo) as conn:
        after = conn.execute("select line_number from transactions where transaction_id = %s", (rows[8][0],)).fetchone()
    assert after == (11,)  # the record after the three-line one: its line number is still the physical one


def test_whitespace_only_lines_are_not_rows(conninfo: str, tmp_path: Path) -> None:
    day = next(_DAYS)
    rows = _rows(day)
    lines = _csv(rows).splitlines(keepends=True)
    text = "".join([*lines[:3], "   \n", "\t\r\n", "\n", *lines[3:], "  "])
    _land(tmp_path, day, text)
    report = _load(tmp_path, day, conninfo)
    assert (report.rows_in, report.rows_loaded, report.rows_quarantined) == (40, 40, 0)
    with psycopg.connect(conninfo) as conn:
        after = conn.execute("select line_number from transactions where transaction_id = %s", (rows[3][0],)).fetchone()
    assert after == (7,)


def test_an_unreadable_file_loads_nothing_and_says_why_in_postgres(conninfo: str, tmp_path: Path) -> None:
    from gyre.ingest.reader import FileUnreadable

    day = next(_DAYS)
    _land(tmp_path, day, _csv(_rows(day)))
    _load(tmp_path, day, conninfo)
    _land(tmp_path, day, b"PAR1 not really parquet PAR1", name="transactions_late.parquet")
    with pytest.raises(FileUnreadable):
        ingest("transactions", day, landing=tmp_path, conninfo=conninfo, max_bad_share=1.0)
    rejected_as, reasons, sources, rows_in, _, _ = _rejection(conninfo, day)
    assert (rejected_as, sources, rows_in) == ("file unreadable", [f"{day}/transactions_late.parquet"], None)
    assert reasons[0].startswith(f"{day}/transactions_late.parquet: ") and "Parquet" in reasons[0]
    with psycopg.connect(conninfo) as conn:
        kept = conn.execute("select count(*) from transactions where event_timestamp::date = %s", (day,)).fetchone()
    assert kept == (40,)  # the earlier load stays as it was
    (tmp_path / day.isoformat() / "transactions_late.parquet").unlink()
    _load(tmp_path, day, conninfo)
    assert _rejection(conninfo, day) is None  # a load that succeeds clears the day's rejection


def test_a_day_of_duplicates_is_rejected_with_an_audit_row_that_says_why(conninfo: str, tmp_path: Path) -> None:
    day = next(_DAYS)
    content = _csv(_rows(day, n=10))
    _land(tmp_path, day, content)
    _land(tmp_path, day, content, name="transactions_resent.csv")
    with pytest.raises(BatchRejected):
        ingest("transactions", day, landing=tmp_path, conninfo=conninfo)
    rejected_as, reasons, sources, rows_in, rows_quarantined, row_reasons = _rejection(conninfo, day)
    assert rejected_as == "batch rule"
    assert "no valid transaction for the day" in reasons
    assert sources == [f"{day}/transactions.csv", f"{day}/transactions_resent.csv"]
    assert (rows_in, rows_quarantined, row_reasons) == (20, 20, {"duplicate transaction_id": 20})
    assert _quarantine(conninfo, day) == {}


def test_the_dag_fails_an_unreadable_file_without_retries(conninfo: str) -> None:
    import runpy

    from airflow.sdk.exceptions import AirflowFailException

    from gyre.config import get_settings

    day = next(_DAYS)
    header = ",".join(_rows(day)[0]) + "," + "h" * ((1 << 20) + 1) + "\n"  # no header to read: the file is unreadable
    _land(get_settings().landing, day, header)
    load = runpy.run_path(str(Path(__file__).resolve().parents[2] / "dags" / "ingest_transactions.py"))["_load"]
    with pytest.raises(AirflowFailException, match="header unreadable"):
        load("transactions", dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC))
    rejected_as, reasons, sources, *_ = _rejection(conninfo, day)
    assert (rejected_as, sources) == ("file unreadable", [f"{day}/transactions.csv"])
    assert reasons == [f"{day}/transactions.csv: header unreadable: field larger than field limit (1048576)"]
