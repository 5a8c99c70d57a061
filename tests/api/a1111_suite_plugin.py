"""A pytest plugin for running AUTOMATIC1111's own ``test/`` folder against this app.

Their tests ask for a ``base_url`` fixture (from the ``pytest-base-url`` package, set to
``http://127.0.0.1:7860`` in their ``pyproject.toml``). This plugin gives that fixture from
``$A1111_BASE_URL`` instead, so the suite runs against a server on any port without that
package: ``python -m pytest -p tests.api.a1111_suite_plugin -p no:base_url <their test dir>``.
"""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def base_url() -> str:
    return os.environ.get("A1111_BASE_URL", "http://127.0.0.1:7860").rstrip("/")
