"""Shared test set-up: the ``slow`` marker.

A local ``pytest`` run leaves out tests marked slow (see ``addopts`` in pyproject.toml);
``.ci/run`` runs everything with ``-m ""``.  Property tests (hypothesis) are slow by
nature and marked here, so that no one has to remember to.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``slow`` marker."""
    config.addinivalue_line(
        "markers", "slow: end-to-end or property tests taking seconds; .ci/run runs them all"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every hypothesis property test as slow."""
    for item in items:
        function = getattr(item, "function", None)
        if getattr(function, "is_hypothesis_test", False):
            item.add_marker(pytest.mark.slow)
