"""The managed kinds: one descriptor module each, found by listing this package.

Each module defines `KIND`, a `Kind`. Adding a kind is a registry schema in `cfn_registry/schemas/`
and a module here; nothing in the core changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from userprofile_operator.kind import Kind

__all__ = ["all_kinds", "by_name", "default_kind"]


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
    wanted = name.lower()
    for kind in all_kinds():
        if wanted in {kind.kind.lower(), kind.plural, kind.singular, *kind.short_names}:
            return kind
    names = ", ".join(n for k in all_kinds() for n in (k.plural, *k.short_names))
    raise KeyError(f"unknown kind {name!r}; known: {names}")
