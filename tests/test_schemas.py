"""The JSON Schema files in schemas/json/ are what the pydantic models say."""

from __future__ import annotations

import json

import pytest

from schemas.export import CONTRACTS, JSON_DIR, render


class TestJsonSchemaFiles:
    @pytest.mark.parametrize("name", sorted(CONTRACTS))
    def test_file_matches_model(self, name: str) -> None:
        """Each committed schema file equals the model's schema (run `python -m schemas.export`)."""
        path = JSON_DIR / f"{name}.schema.json"
        assert path.read_text(encoding="utf-8") == render(CONTRACTS[name])

    def test_raw_article_schema_requires_only_body(self) -> None:
        """Producers in other languages see `body` as the one required field."""
        schema = json.loads((JSON_DIR / "raw_article.schema.json").read_text(encoding="utf-8"))
        assert schema["required"] == ["body"]
        assert schema["additionalProperties"] is False

    def test_schemas_do_not_import_worker(self) -> None:
        """schemas/ is importable on its own: it never imports from worker/."""
        import subprocess
        import sys

        code = (
            "import sys, schemas, schemas.export; "
            "sys.exit(any(m == 'worker' or m.startswith('worker.') for m in sys.modules))"
        )
        assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
