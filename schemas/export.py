"""Write the JSON Schema of every contract into schemas/json/ (a test keeps them in sync).

python -m schemas.export
"""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel

from schemas.articles import ArticlePublic, RawArticle
from schemas.events import ArticleEvent
from schemas.jobs import IngestJobPublic, IngestSummary, JobRequest

JSON_DIR = Path(__file__).with_name("json")
CONTRACTS: dict[str, type[BaseModel]] = {
    "raw_article": RawArticle,
    "article": ArticlePublic,
    "article_event": ArticleEvent,
    "ingest_job": IngestJobPublic,
    "ingest_summary": IngestSummary,
    "job_request": JobRequest,
}


def render(model: type[BaseModel]) -> str:
    schema = model.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main() -> None:
    JSON_DIR.mkdir(exist_ok=True)
    for name, model in CONTRACTS.items():
        (JSON_DIR / f"{name}.schema.json").write_text(render(model), encoding="utf-8")


if __name__ == "__main__":
    main()
