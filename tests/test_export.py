"""`news-ingest export`: jsonl, csv and parquet from a populated store, read back, filtered."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from tests.factories import STORY, distinct_article
from tests.store import store_articles
from worker.cli import app as cli
from worker.services.export import EXPORT_FIELDS, article_record, write_parquet
from worker.services.search import ArticleFilter, iter_articles

NEAR_COPY = STORY.replace("two hundred buses", "two hundred and fifty buses")


@pytest.fixture
def store(engine: Engine) -> dict[str, int]:
    """A story with a near copy, two distinct articles (one undated), and a second sighting."""
    store_articles(
        engine,
        [
            {
                "body": STORY,
                "url": "https://a.example/story",
                "source": "wire-a",
                "published_at": "2024-05-01T12:00:00+02:00",
            },
            {"body": NEAR_COPY, "source": "wire-b", "published_at": "2024-05-02T09:00:00Z"},
            {
                "body": distinct_article(1),
                "source": "wire-a",
                "published_at": "2024-06-01T00:00:00Z",
            },
            {"body": distinct_article(2), "source": "wire-b"},
        ],
    )
    store_articles(engine, [{"body": distinct_article(1), "source": "wire-b"}])
    ids = [a.id for a in iter_articles(engine=engine, where=ArticleFilter())]
    return dict(zip(("story", "near", "june", "undated"), ids, strict=True))


def export(tmp_path: Path, fmt: str, *options: str) -> Path:
    out = tmp_path / f"export.{fmt}"
    result = CliRunner().invoke(cli, ["export", "--format", fmt, "-o", str(out), *options])
    assert result.exit_code == 0, result.output
    return out


def read_back(path: Path, fmt: str) -> list[dict]:  # type: ignore[type-arg]
    if fmt == "jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if fmt == "csv":
        with path.open(encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle))
        return [
            {
                **row,
                "id": int(row["id"]),
                "story_id": int(row["story_id"]),
                "duplicate_of": int(row["duplicate_of"]) if row["duplicate_of"] else None,
                "published_at": row["published_at"] or None,
                "url": row["url"] or None,
                "sightings": json.loads(row["sightings"]),
            }
            for row in rows
        ]
    return pq.read_table(path).to_pylist()


FORMATS = ("jsonl", "csv", "parquet")


class TestExport:
    @pytest.mark.parametrize("fmt", FORMATS)
    def test_every_article_round_trips(
        self, tmp_path: Path, store: dict[str, int], fmt: str
    ) -> None:
        """Each format holds one record per article with the contract's fields and values."""
        records = read_back(export(tmp_path, fmt), fmt)
        assert [r["id"] for r in records] == list(store.values())
        for record in records:
            assert tuple(record) == EXPORT_FIELDS
        first, near, june, undated = records
        assert first["published_at"] == "2024-05-01T10:00:00Z"
        assert first["url"] == "https://a.example/story"
        assert (near["story_id"], near["duplicate_of"]) == (first["id"], first["id"])
        assert first["duplicate_of"] is None and undated["published_at"] is None
        assert first["body"].startswith("The city council approved")
        assert [s["source"] for s in june["sightings"]] == ["wire-a", "wire-b"]
        assert june["sightings"][0]["seen_at"].endswith("Z")

    @pytest.mark.parametrize("fmt", FORMATS)
    def test_since_until_and_canonical_only(
        self, tmp_path: Path, store: dict[str, int], fmt: str
    ) -> None:
        """--since/--until bound published_at (undated articles fall outside any bound);
        --canonical-only drops near copies."""

        def ids(*options: str) -> list[int]:
            return [r["id"] for r in read_back(export(tmp_path, fmt, *options), fmt)]

        assert ids("--since", "2024-05-02") == [store["near"], store["june"]]
        assert ids("--until", "2024-06-01T00:00:00Z") == [store["story"], store["near"]]
        assert ids("--since", "2024-05-01T12:00:00+02:00", "--until", "2024-05-02") == [
            store["story"]
        ]
        assert ids("--canonical-only") == [store["story"], store["june"], store["undated"]]
        assert ids("--canonical-only", "--since", "2024-05-02") == [store["june"]]
        assert ids("--since", "2030-01-01") == []

    def test_parquet_is_written_in_row_groups(
        self, tmp_path: Path, engine: Engine, store: dict[str, int]
    ) -> None:
        """Rows go out a row group at a time, so memory stays flat on any size of store."""
        out = tmp_path / "groups.parquet"
        records = (
            article_record(a) for a in iter_articles(engine=engine, where=ArticleFilter(), chunk=2)
        )
        assert write_parquet(records, str(out), row_group=3) == 4
        assert pq.ParquetFile(out).metadata.num_row_groups == 2

    def test_parquet_needs_an_output_file(self, store: dict[str, int]) -> None:
        """Parquet to stdout is refused with a one-line error."""
        result = CliRunner().invoke(cli, ["export", "--format", "parquet"])
        assert result.exit_code != 0
        assert "-o FILE" in result.output
