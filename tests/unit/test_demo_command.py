"""`userprofile-operator demo` finds the source checkout it runs in; the demo itself lives in tests/support.

The demo's run is tested end to end in tests/e2e/test_demo.py; these tests only check how the console
script gets there: from a folder of a clone it imports `tests.support.demo` of that clone, elsewhere it
refuses with one line and exit status 2. `importlib.import_module` is replaced, so nothing starts.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from userprofile_operator import cli

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_outside_a_checkout_it_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(importlib, "import_module", lambda name: pytest.fail(f"imported {name}"))
    assert cli.main(["demo", "--no-wait"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "source checkout" in err and str(tmp_path.resolve()) in err


def test_inside_a_checkout_it_runs_the_checkouts_demo_with_the_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, dict[str, Any]]] = []

    def import_module(name: str) -> Any:
        return SimpleNamespace(run_demo=lambda **kwargs: calls.append((name, kwargs)) or 0)

    monkeypatch.chdir(REPO_ROOT / "examples")  # any folder below the root
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(importlib, "import_module", import_module)
    assert cli.main(["demo", "--no-wait", "--latency", "0.5"]) == 0
    assert calls == [("tests.support.demo", {"wait": False, "latency": 0.5})]
    assert sys.path[0] == str(REPO_ROOT)
