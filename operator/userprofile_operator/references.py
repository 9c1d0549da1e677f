"""References between managed objects: `<field>Ref: {name: ...}` beside a field, Crossplane's convention.

A profile can name its domain by the SageMakerDomain object (`domainIdRef: {name: studio}`) instead of
its id; a space can name its owner by the SageMakerUserProfile object
(`ownershipSettings.ownerUserProfileNameRef: {name: alice}`). The target lives in the same namespace and
must be Ready; the value comes from its status (the domain's identifier) or its spec (the profile's
name).

This module is pure: `resolve` takes a `.spec` and a lookup of the targets the operator has seen, and
returns the spec with every reference replaced by its value, or what it waits for. The runtime keeps the
lookup (from the watch events of every kind) and wakes waiting objects when a target changes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cfn_registry.schema import PropertyPath

__all__ = ["REF_SUFFIX", "Reference", "Resolution", "TargetState", "resolve", "target_of"]

REF_SUFFIX = "Ref"


@dataclass(frozen=True)
class Reference:
    """A field (CloudFormation path) whose value another kind's object can supply."""

    path: PropertyPath
    """e.g. ("DomainId",) or ("OwnershipSettings", "OwnerUserProfileName")."""
    target: str
    """The kind of the object it names, e.g. "SageMakerDomain"."""
    value: str = "identifier"
    """Where the value comes from: "identifier" (the target's status.identifier), or a spec field of the
    target in camelCase (e.g. "userProfileName")."""


@dataclass(frozen=True)
class TargetState:
    """What the operator knows of a possible target: from the last watch event of that object."""

    ready: bool
    identifier: str | None
    spec: Mapping[str, Any]

    def value(self, reference: Reference) -> str | None:
        if reference.value == "identifier":
            return self.identifier
        found = self.spec.get(reference.value)
        return str(found) if found not in (None, "") else None


def target_of(body: Mapping[str, Any]) -> TargetState:
    """A TargetState from an object's body: Ready at its current generation, with its identifier."""
    status = body.get("status") or {}
    generation = (body.get("metadata") or {}).get("generation")
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True" and c.get("observedGeneration") == generation
        for c in status.get("conditions") or []
    )
    return TargetState(ready=ready, identifier=status.get("identifier"), spec=dict(body.get("spec") or {}))


@dataclass
class Resolution:
    spec: dict[str, Any]
    """The spec with every resolved reference replaced by its value (the `...Ref` keys removed)."""
    waiting: list[tuple[str, str, str]] = field(default_factory=list)
    """(target kind, target name, why) for every reference that cannot be resolved now."""


Lookup = Callable[[str, str], TargetState | None]
"""(target kind, name) -> what is known of that object in the namespace, or None."""


def resolve(
    spec: Mapping[str, Any],
    references: tuple[Reference, ...],
    spec_path: Callable[[PropertyPath], tuple[str, ...]],
    lookup: Lookup,
    fallback: Mapping[PropertyPath, str] | None = None,
) -> Resolution:
    """The spec with its references resolved.

    `fallback` holds values the object already settled (its identifier's parts, once AWS has the
    resource): a reference that cannot be resolved now takes them, and a nested one without a fallback
    is left out, so that an existing resource stays managed (and deletable) when its target is gone.
    Without a fallback, an unresolved reference is reported in `waiting`.
    """
    resolved: dict[str, Any] = copy.deepcopy(dict(spec))
    waiting: list[tuple[str, str, str]] = []
    for reference in references:
        camel = spec_path(reference.path)
        parent = _parent(resolved, camel[:-1])
        ref_key = camel[-1] + REF_SUFFIX
        if parent is None or ref_key not in parent:
            continue
        name = str((parent.pop(ref_key) or {}).get("name", ""))
        target = lookup(reference.target, name)
        value = target.value(reference) if target is not None and target.ready else None
        if value is not None:
            parent[camel[-1]] = value
            continue
        if fallback is not None:
            if reference.path in fallback:
                parent[camel[-1]] = fallback[reference.path]
            else:
                resolved.pop(camel[0], None)  # createOnly below: AWS keeps what it has
            continue
        why = "does not exist" if target is None else "is not Ready"
        waiting.append((reference.target, name, why))
    return Resolution(resolved, waiting)


def _parent(spec: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    node: Any = spec
    for name in path:
        node = node.get(name) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None
