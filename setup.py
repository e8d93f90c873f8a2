"""The optional C kernel of fingerprinting (worker/pipeline/_fingerprint.c). Everything else
is in pyproject.toml. Without a C compiler the build goes on without it, and the same
results come from the Python code it speeds up."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("worker.pipeline._fingerprint", ["worker/pipeline/_fingerprint.c"],
                             optional=True)])
