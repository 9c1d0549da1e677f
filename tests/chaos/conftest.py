"""Chaos tests reuse the end-to-end session fixtures: one local control plane, the CRD, the emulator.

Each test starts an operator of its own, in a namespace that does not match `shared-*` (the pattern
the e2e session operator watches), so two operators never handle one object.
"""

from __future__ import annotations

from tests.e2e.conftest import (  # noqa: F401  (pytest finds fixtures and hooks by name in this module)
    control_plane,
    crd,
    emulator,
    kube,
    pytest_collection_modifyitems,
    pytest_runtest_makereport,
)
