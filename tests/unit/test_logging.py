"""Log lines about an object say which object, in both formats."""

from __future__ import annotations

import json
import logging

from userprofile_operator.cli import _JsonFormatter, _TextFormatter
from userprofile_operator.runner import WATCH_HANDLER_SUCCEEDED, _not_every_watch_event

REF = {"namespace": "team-a", "name": "alice", "uid": "u-1"}


def record(message: str, k8s_ref: dict[str, str] | None = None) -> logging.LogRecord:
    rec = logging.LogRecord("kopf.objects", logging.INFO, __file__, 1, message, None, None)
    if k8s_ref is not None:
        rec.k8s_ref = k8s_ref
    return rec


def test_text_lines_name_the_object() -> None:
    line = _TextFormatter().format(record("Handler 'reconcile' succeeded.", REF))
    assert line.endswith("INFO    kopf.objects: [team-a/alice] Handler 'reconcile' succeeded.")
    assert _TextFormatter().format(record("Operator is stopping.")).endswith("kopf.objects: Operator is stopping.")


def test_json_lines_carry_the_object() -> None:
    entry = json.loads(_JsonFormatter().format(record("Handler 'reconcile' succeeded.", REF)))
    assert entry["object"] == REF
    assert entry["message"] == "Handler 'reconcile' succeeded."


def test_the_watch_handlers_successes_are_not_logged_its_failures_are() -> None:
    # One line per watch event of every object otherwise: 10,000 at each start over 10,000 objects.
    def record(level: int, message: str) -> logging.LogRecord:
        return logging.LogRecord("kopf.objects", level, __file__, 1, message, None, None)

    assert not _not_every_watch_event(record(logging.INFO, WATCH_HANDLER_SUCCEEDED))
    assert _not_every_watch_event(record(logging.INFO, "Handler 'resume' succeeded."))  # the bench counts these
    assert _not_every_watch_event(record(logging.ERROR, "Handler 'watch_self_check' failed with an exception."))
