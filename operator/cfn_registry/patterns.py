"""The regular expression dialects of a registry schema's `pattern` keywords.

Schemas are written for Java/ECMA engines. Two other engines read them here:

- Python's `re` (validation in the operator and the emulator): `python_pattern()` expands the Unicode
  classes `\\p{L}`, `\\p{N}`, `\\p{Z}` that `re` lacks into explicit ranges, and swaps the patterns a
  backtracking engine runs in exponential time for an equivalent linear one (`LINEAR_EQUIVALENTS`).
- Go's RE2 (the API server compiles CRD patterns with it): `re2_pattern()` rewrites repeat counts above
  RE2's limit of 1000 where the field's maxLength makes the rewrite exact.

The schema files keep the patterns as AWS wrote them.
"""

from __future__ import annotations

import itertools
import re
import sys
import threading
import unicodedata
from functools import cache
from typing import Final

__all__ = ["LINEAR_EQUIVALENTS", "compile_pattern", "python_pattern", "re2_pattern"]

LINEAR_EQUIVALENTS: Final[dict[str, str]] = {
    # CodeRepository.RepositoryUrl (from cfn-lint). `([C]+/?){3,1016}` nests quantifiers; on a string
    # that fails near its end it backtracks exponentially (24 characters: 0.6 s). Same language:
    # runs of C separated by single slashes, optional trailing slash, at least 3 C characters in all
    # (the upper bound can never bind under maxLength 256).
    r"^https://([.\-_a-zA-Z0-9]+/?){3,1016}$": (
        r"^https://(?=(?:/?[.\-_a-zA-Z0-9]){3})[.\-_a-zA-Z0-9]+(?:/[.\-_a-zA-Z0-9]+)*/?$"
    ),
}

_UNICODE_CLASS: Final = re.compile(r"\\([pP])\{([A-Za-z]+)\}")
_RE2_MAX_REPEAT: Final = 1000
_REPEAT: Final = re.compile(r"(?<!\\)\{(\d+),(\d+)\}")


_RUNS_LOCK: Final = threading.Lock()


@cache
def _category_runs_unlocked() -> tuple[tuple[int, int, str], ...]:
    first = 0
    runs: list[tuple[int, int, str]] = []
    categories = map(unicodedata.category, map(chr, range(sys.maxunicode + 1)))
    for category, group in itertools.groupby(categories):
        count = sum(1 for _ in group)
        runs.append((first, first + count - 1, category))
        first += count
    return tuple(runs)


def _category_runs() -> tuple[tuple[int, int, str], ...]:
    """Every code point's general category, as runs (first, last, category) in code point order.

    One pass over all of Unicode (about 0.5 s), made once for every class: the operator's first
    validation of a spec needs it, and a pass per class held its event loop for 2 s (bench/README.md).
    Locked, so that a warm-up in a thread and a first validation on the event loop make it once."""
    with _RUNS_LOCK:
        return _category_runs_unlocked()


@cache
def _category_ranges(prefix: str) -> str:
    """A character-class body (no brackets) of every code point whose category starts with prefix."""
    ranges: list[tuple[int, int]] = []
    for low, high, category in _category_runs():
        if category.startswith(prefix):
            if ranges and ranges[-1][1] == low - 1:
                ranges[-1] = (ranges[-1][0], high)
            else:
                ranges.append((low, high))
    return "".join(f"\\U{low:08x}" if low == high else f"\\U{low:08x}-\\U{high:08x}" for low, high in ranges)


def python_pattern(pattern: str) -> str:
    """The pattern in Python `re` syntax, matching the same strings.

    `\\p{..}` classes become explicit ranges, inside a character class (`[\\p{L}_]`) and outside one
    (`\\p{L}+`). Negated classes (`\\P{..}`) occur in no schema and are refused rather than guessed.
    """
    pattern = LINEAR_EQUIVALENTS.get(pattern, pattern)
    if "\\p{" not in pattern and "\\P{" not in pattern:
        return pattern
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            match = _UNICODE_CLASS.match(pattern, i)
            if match:
                if match.group(1) == "P":
                    raise ValueError(f"negated Unicode class in {pattern!r} is not supported")
                body = _category_ranges(match.group(2))
                if not body:
                    raise ValueError(f"unknown Unicode category in {pattern!r}")
                out.append(body if in_class else f"[{body}]")
                i = match.end()
                continue
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[" and not in_class:
            in_class = True
            out.append(ch)
            # a leading ']' (or '^]') is a literal in both dialects
            if pattern.startswith("^]", i + 1):
                out.append("^]")
                i += 3
                continue
            if pattern.startswith("]", i + 1):
                out.append("]")
                i += 2
                continue
        elif ch == "]" and in_class:
            in_class = False
            out.append(ch)
        else:
            out.append(ch)
        i += 1
    return "".join(out)


@cache
def compile_pattern(pattern: str) -> re.Pattern[str]:
    """The schema's pattern compiled for Python (cached: the same few patterns recur everywhere)."""
    return re.compile(python_pattern(pattern))


def re2_pattern(pattern: str, max_length: int | None) -> str:
    """The pattern in a form Go's RE2 accepts.

    RE2 refuses repeat counts above 1000. `{m,n}` with n > 1000 becomes `{m,}`, which matches the
    same strings when the field's maxLength is at most n: every repetition in the schemas' patterns
    consumes at least one character, so a value of maxLength characters never repeats more often.
    """

    def fix(match: re.Match[str]) -> str:
        low, high = int(match.group(1)), int(match.group(2))
        if high <= _RE2_MAX_REPEAT:
            return match.group(0)
        if low > _RE2_MAX_REPEAT or max_length is None or max_length > high:
            raise ValueError(f"cannot express {pattern!r} in RE2 without changing its meaning")
        return f"{{{low},}}"

    return _REPEAT.sub(fix, pattern)
