"""Is the compiled fingerprint kernel (worker/pipeline/_fingerprint.c) in use?

Celery started inside a checkout imports `./worker` (the working directory comes first on
sys.path), not the installed package: a checkout that was never built has no kernel, so
ingest silently runs the pure-Python path (9% slower, same results). Workers warn at start.
"""

from __future__ import annotations

import json
import site
import sys
from importlib import metadata
from pathlib import Path

import worker.pipeline
from worker.pipeline import dedup, normalize

KERNEL_GLOBS = ("_fingerprint*.so", "_fingerprint*.pyd")


def kernel_in_use() -> bool:
    return all(getattr(module, "_kernel", None) is not None for module in (dedup, normalize))


def kernel_warning() -> str | None:
    """None when the kernel is loaded, else what is wrong and how to fix it."""
    if kernel_in_use():
        return None
    here = Path(worker.pipeline.__file__).resolve().parent
    elsewhere = [path for path in _built_kernels() if path.parent.resolve() != here]
    if elsewhere:
        return (
            f"the compiled kernel is not used: this process imported worker from "
            f"{here.parent.parent} (the working directory?), which has no build of it, while "
            f"{elsewhere[0]} exists; ingest runs about 9% slower. Start Celery from another "
            "directory, or build the kernel in the checkout: python setup.py build_ext --inplace"
        )
    return (
        f"the compiled kernel is not built in {here}: ingest runs about 9% slower (same "
        "results); build it with a C compiler: python setup.py build_ext --inplace"
    )


def _built_kernels() -> list[Path]:
    """Every built kernel this interpreter could have loaded: under each sys.path entry and
    site-packages directory, and in the source tree of an editable install."""
    roots = [Path(entry or ".") for entry in sys.path]
    roots += [Path(entry) for entry in site.getsitepackages()]
    source = _editable_source()
    if source is not None:
        roots.append(source)
    found: list[Path] = []
    for root in roots:
        directory = root / "worker" / "pipeline"
        for pattern in KERNEL_GLOBS:
            found.extend(path for path in directory.glob(pattern) if path not in found)
    return found


def _editable_source() -> Path | None:
    try:
        text = metadata.distribution("news-ingest").read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not text:
        return None
    url = json.loads(text).get("url", "")
    return Path(url.removeprefix("file://")) if url.startswith("file://") else None
