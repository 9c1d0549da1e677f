"""Fault injection for end-to-end tests: Python imports this at start-up when `tests/faults` is on
PYTHONPATH, and it does something only when `SMUP_FAULT` asks for it.

`SMUP_FAULT=first-scan-misses-crds`: kopf's first discovery scan finds none of the group's resources,
as when a freshly restarted API server serves discovery before its CRDs (issue 12). Only the timing is
forced; the API server, kopf and the operator are real.
"""

from __future__ import annotations

import os
from typing import Any

if os.environ.get("SMUP_FAULT") == "first-scan-misses-crds":
    from kopf._cogs.clients import scanning

    _original = scanning.scan_resources
    _scans = [0]

    async def _scan_resources(**kwargs: Any) -> Any:
        _scans[0] += 1
        found = await _original(**kwargs)
        return set() if _scans[0] == 1 else found

    scanning.scan_resources = _scan_resources  # type: ignore[assignment]
