"""Exports of what is stored: one record per article, written as JSON lines, CSV or Parquet.

The articles come from the one article reader, `worker.services.search.iter_articles`
(what `news-ingest articles` and `GET /articles` page through too); this module only writes.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import IO, Any

from schemas import ArticlePublic
from worker.pipeline.metadata import METADATA_COLUMNS

EXPORT_FIELDS = (
    "id",
    "title",
    "body",
    "url",
    "published_at",
    "content_hash",
    "story_id",
    "duplicate_of",
    "sightings",
    *METADATA_COLUMNS,
)


def article_record(article: ArticlePublic) -> dict[str, Any]:
    """The export record: ISO 8601 UTC dates, sightings as plain objects."""
    record = article.model_dump(mode="json", include=set(EXPORT_FIELDS))
    return {key: record[key] for key in EXPORT_FIELDS}


def write_jsonl(records: Iterator[dict[str, Any]], out: IO[str]) -> int:
    """One JSON document per line. U+2028/U+2029 are written escaped: valid raw in JSON
    but line terminators to JavaScript and to some line readers (the values load back
    exactly)."""
    count = 0
    for record in records:
        line = json.dumps(record, ensure_ascii=False)
        if "\u2028" in line or "\u2029" in line:
            line = line.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
        out.write(line + "\n")
        count += 1
    return count


# A spreadsheet reads a cell starting with one of these as a formula (CSV injection):
# such a cell gets a leading single quote (OWASP), so `=HYPERLINK(...)` stays text. Only
# the CSV export is changed; JSONL and Parquet keep every value exact.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(records: Iterator[dict[str, Any]], out: IO[str]) -> int:
    writer = csv.DictWriter(out, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    count = 0
    for record in records:
        row = {
            **record,
            **{
                key: json.dumps(record[key], ensure_ascii=False)
                for key in ("sightings", "authors", "tags")
            },
        }
        writer.writerow({key: _csv_cell(value) for key, value in row.items()})
        count += 1
    return count


def write_parquet(records: Iterator[dict[str, Any]], path: str, *, row_group: int = 10_000) -> int:
    """Parquet in row groups, so memory stays flat however many articles there are."""
    # The optional `parquet` extra (pip install 'news-ingest[parquet]'): imported when used.
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    sighting = pa.struct(
        [
            ("source", pa.string()),
            ("location", pa.string()),
            ("guid", pa.string()),
            ("seen_at", pa.string()),
        ]
    )
    schema = pa.schema(
        [
            ("id", pa.int64()),
            ("title", pa.string()),
            ("body", pa.string()),
            ("url", pa.string()),
            ("published_at", pa.string()),
            ("content_hash", pa.string()),
            ("story_id", pa.int64()),
            ("duplicate_of", pa.int64()),
            ("sightings", pa.list_(sighting)),
            ("summary", pa.string()),
            ("body_source", pa.string()),
            ("full_text_error", pa.string()),
            ("language", pa.string()),
            ("authors", pa.list_(pa.string())),
            ("tags", pa.list_(pa.string())),
            ("image_url", pa.string()),
        ]
    )
    count = 0
    with pq.ParquetWriter(path, schema) as writer:
        batch: list[dict[str, Any]] = []
        for record in records:
            batch.append(record)
            if len(batch) >= row_group:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                count += len(batch)
                batch = []
        if batch or count == 0:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            count += len(batch)
    return count


__all__ = [
    "EXPORT_FIELDS",
    "article_record",
    "write_csv",
    "write_jsonl",
    "write_parquet",
]
