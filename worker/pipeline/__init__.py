"""Pipeline stages: plain functions over plain data (no Celery, no database, no CLI)."""
