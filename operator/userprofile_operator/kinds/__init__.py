"""The managed kinds: one descriptor module each, found by listing this package.

Each module defines `KIND`, a `Kind`. Adding a kind is a registry schema in `cfn_registry/schemas/`
and a module here; nothing in the core changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from userprofile_operator.kind import Kind

__all__ = ["ALL", "all_kinds", "by_name", "default_kind", "select"]

ALL = "all"
"""What `--kinds` (and the chart's `kinds`) says for every kind."""


@cache
def all_kinds() -> tuple[Kind, ...]:
    """Every managed kind, the user profile first, then by kind name."""
    found: list[Kind] = []
    for module in pkgutil.iter_modules(__path__):
        kind = getattr(importlib.import_module(f"{__name__}.{module.name}"), "KIND", None)
        if isinstance(kind, Kind):
            found.append(kind)
    return tuple(sorted(found, key=lambda k: (k.kind != "SageMakerUserProfile", k.kind)))


def default_kind() -> Kind:
    """The flagship, SageMakerUserProfile: what the CLI means without `--kind`."""
    return all_kinds()[0]


def by_name(name: str) -> Kind:
    """A kind by any of its names: kind, plural, singular or a short name (case-insensitive)."""
    found = _named(name)
    if found is None:
        raise KeyError(f"unknown kind {name!r}; known: {_known()}")
    return found


def select(names: str) -> tuple[Kind, ...]:
    """The kinds a comma-separated list names (`smup,smspace`; any name `by_name` takes), in `all_kinds()`
    order, each once; `all` (or nothing) is every kind. Raises ValueError naming every unknown name."""
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    if not wanted or [name.lower() for name in wanted] == [ALL]:
        return all_kinds()
    unknown = [name for name in wanted if _named(name) is None]
    if unknown:
        listed = ", ".join(repr(name) for name in unknown)
        raise ValueError(f"unknown kind{'s' if len(unknown) > 1 else ''} {listed}; known: {_known()}, or {ALL}")
    chosen = {_named(name) for name in wanted}
    return tuple(kind for kind in all_kinds() if kind in chosen)


def _named(name: str) -> Kind | None:
    wanted = name.lower()
    for kind in all_kinds():
        if wanted in {kind.kind.lower(), kind.plural, kind.singular, *kind.short_names}:
            return kind
    return None


def _known() -> str:
    return ", ".join(n for k in all_kinds() for n in (k.plural, *k.short_names))
