"""Language of a text, detected offline: py3langid ships its model (97 languages) in the
wheel, so nothing is downloaded at run time. Used when neither the feed entry, its
channel nor the page declares a language."""

from __future__ import annotations

import threading

from py3langid.langid import (  # untyped: see pyproject.toml [tool.mypy] overrides
    MODEL_FILE,
    LanguageIdentifier,
)

__all__ = ["detect_language"]

# The first ~1,000 characters decide: 2.4 ms a call against 79 ms for a 15,000-character
# article (measured on cnn_001 of bench/full_text_bench.py), with the same answer.
_SAMPLE_CHARS = 1000
# Shorter texts (a headline) are guessed too often; below this probability, no answer.
_MIN_CHARS = 40
_MIN_PROBABILITY = 0.8

_identifier: LanguageIdentifier | None = None
_lock = threading.Lock()


def _model() -> LanguageIdentifier:
    global _identifier
    with _lock:
        if _identifier is None:
            # ~1.5 s, once per process, on the first article that needs it.
            _identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        return _identifier


def detect_language(text: str) -> str | None:
    """The ISO 639-1 code of `text`'s language, or None when the text is too short or
    the guess too unsure."""
    sample = text[:_SAMPLE_CHARS].strip()
    if len(sample) < _MIN_CHARS:
        return None
    language, probability = _model().classify(sample)
    return str(language) if float(probability) >= _MIN_PROBABILITY else None
