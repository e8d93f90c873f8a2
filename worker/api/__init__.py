"""The HTTP API (`news-ingest serve`): FastAPI over the same services as the CLI and tasks.

`worker.api.app:create_app` builds it; needs the `api` extra (fastapi, uvicorn,
prometheus-client).
"""
