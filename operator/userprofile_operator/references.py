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

__all__ = ["REF_SUFFIX", "Reference", "Resolution", "TargetState", "named_targets", "resolve", "target_of"]

REF_SUFFIX = "Ref"
REFS_SUFFIX = "Refs"


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
    arn: str | None = None
    named: frozenset[tuple[str, str]] = frozenset()
    """(kind, name) of every object its spec names by reference."""
    recorded: Mapping[tuple[str, str], str] = field(default_factory=dict)
    """What its references resolved to in what it last sent to AWS (`status.references`), by (kind, name)."""
    in_aws: bool = False
    """Whether it ever reached AWS (an identifier, or a request in flight)."""
    retiring: bool = False
    """Whether it has replaced resources still to delete (`status.retiring`)."""

    def value(self, reference: Reference) -> str | None:
        if reference.value == "identifier":
            return self.identifier
        if reference.value == "arn":
            return self.arn
        found = self.spec.get(reference.value)
        return str(found) if found not in (None, "") else None


def target_of(body: Mapping[str, Any], named: frozenset[tuple[str, str]] = frozenset()) -> TargetState:
    """A TargetState from an object's body: Ready at its current generation, with its identifier and ARN;
    `named` is what its spec names by reference (`named_targets`)."""
    status = body.get("status") or {}
    generation = (body.get("metadata") or {}).get("generation")
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True" and c.get("observedGeneration") == generation
        for c in status.get("conditions") or []
    )
    recorded = {
        (str(entry.get("kind")), str(entry.get("name"))): str(entry.get("value"))
        for entry in status.get("references") or []
        if isinstance(entry, Mapping)
    }
    return TargetState(
        ready=ready,
        identifier=status.get("identifier"),
        spec=dict(body.get("spec") or {}),
        arn=status.get("arn"),
        named=named,
        recorded=recorded,
        in_aws=bool(status.get("identifier") or status.get("operation")),
        retiring=bool(status.get("retiring")),
    )


def named_targets(
    spec: Mapping[str, Any], references: tuple[Reference, ...], spec_name: Callable[[str], str]
) -> frozenset[tuple[str, str]]:
    """(target kind, name) of every `<field>Ref: {name}` and `<field>Refs: [{name}]` anywhere in the spec
    (list items too) whose field is one of the kind's references."""
    kinds = {spec_name(reference.path[-1]): reference.target for reference in references}
    found: set[tuple[str, str]] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
            return
        if not isinstance(node, Mapping):
            return
        for key, value in node.items():
            target: str | None = None
            items: list[Any] = []
            if key.endswith(REFS_SUFFIX) and isinstance(value, list):
                target, items = kinds.get(key[: -len(REFS_SUFFIX)]), value
            elif key.endswith(REF_SUFFIX) and isinstance(value, Mapping):
                target, items = kinds.get(key[: -len(REF_SUFFIX)]), [value]
            if target is not None:
                found.update((target, str(item.get("name"))) for item in items if isinstance(item, Mapping))
            else:
                walk(value)

    walk(spec)
    return frozenset(found)


@dataclass
class Resolution:
    spec: dict[str, Any]
    """The spec with every resolved reference replaced by its value (the `...Ref` keys removed)."""
    waiting: list[tuple[str, str, str]] = field(default_factory=list)
    """(target kind, target name, why) for every reference that cannot be resolved now."""
    values: list[tuple[str, str, str]] = field(default_factory=list)
    """(target kind, target name, value) for every reference resolved from its target now."""
    kept: list[tuple[str, str]] = field(default_factory=list)
    """(target kind, target name) of every reference that kept what the object settled (`fallback`)."""


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
    values: list[tuple[str, str, str]] = []
    kept: list[tuple[str, str]] = []
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
            values.append((reference.target, name, value))
            continue
        if fallback is not None:
            kept.append((reference.target, name))
            if reference.path in fallback:
                parent[camel[-1]] = fallback[reference.path]
            else:
                resolved.pop(camel[0], None)  # createOnly below: AWS keeps what it has
            continue
        why = "does not exist" if target is None else "is not Ready"
        waiting.append((reference.target, name, why))
    return Resolution(resolved, waiting, values, kept)


def _parent(spec: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
    node: Any = spec
    for name in path:
        node = node.get(name) if isinstance(node, dict) else None
    return node if isinstance(node, dict) else None
