"""References between managed objects: `<field>Ref: {name: ...}` beside a field, Crossplane's convention.

A profile can name its domain by the SageMakerDomain object (`domainIdRef: {name: studio}`) instead of
its id; a space can name its owner by the SageMakerUserProfile object
(`ownershipSettings.ownerUserProfileNameRef: {name: alice}`); a domain's JupyterLab settings can name
their lifecycle configs and custom images by their objects. The target lives in the same namespace and
must be Ready; the value comes from its status (the identifier, or the ARN) or its spec (the profile's
name).

Paths are CloudFormation property paths as the schema layer writes them: a list on the way is walked
through (`("DefaultUserSettings", "JupyterLabAppSettings", "CustomImages", "ImageName")` is the image
name of every item of `customImages`), and each item holds its own `imageNameRef`. A field that is a
list of values takes the plural form, `<field>Refs: [{name: ...}, ...]` (`lifecycleConfigArnsRefs`):
the targets' values are appended to what the field lists, in order, each once.

This module is pure: `resolve` takes a `.spec` and a lookup of the targets the operator has seen, and
returns the spec with every reference replaced by its value, or what it waits for; `referenced` says
which objects a spec names. The runtime keeps the lookup (from the watch events of every kind) and
wakes waiting objects when a target changes.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from cfn_registry.schema import PropertyPath

__all__ = [
    "PLURAL_REF_SUFFIX",
    "REF_SUFFIX",
    "Reference",
    "Resolution",
    "TargetState",
    "follows",
    "named_targets",
    "ref_key",
    "referenced",
    "resolve",
    "target_of",
]

REF_SUFFIX = "Ref"
PLURAL_REF_SUFFIX = "Refs"


@dataclass(frozen=True)
class Reference:
    """A field (CloudFormation path) whose value another kind's object can supply."""

    path: PropertyPath
    """e.g. ("DomainId",) or ("OwnershipSettings", "OwnerUserProfileName"); lists on the way are walked
    through, as everywhere in `cfn_registry`."""
    target: str
    """The kind of the object it names, e.g. "SageMakerDomain"."""
    value: str = "identifier"
    """Where the value comes from: "identifier" (the target's status.identifier), "arn" (its status.arn),
    or a spec field of the target in camelCase (e.g. "userProfileName")."""
    plural: bool = False
    """The field is a list of values: `<field>Refs: [{name}]`, each target's value appended to the list."""

    @property
    def suffix(self) -> str:
        return PLURAL_REF_SUFFIX if self.plural else REF_SUFFIX


def ref_key(reference: Reference, camel_name: str) -> str:
    """The sibling key of a field: `domainIdRef`, `lifecycleConfigArnsRefs`."""
    return camel_name + reference.suffix


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
    deleting: bool = False
    """It has a deletionTimestamp: on its way out."""

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
    meta = body.get("metadata") or {}
    generation = meta.get("generation")
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
        deleting=bool(meta.get("deletionTimestamp")),
    )


def follows(before: TargetState | None, now: TargetState, changed: bool) -> bool:
    """Whether an object that names a target resolves its references again after a watch event of the target
    (`before`: what was known of it until then, None at its first sighting).

    When the target, Ready, has a new value (a replaced resource's new ARN, a domain object made again for
    another AWS domain): the object may have to move, or to say it cannot (`ReferenceChanged`). An object
    held in ReferenceChanged (`changed`) looks again at every Ready sighting: any may be the reference
    pointed back, the first sighting of a target made again too. A target's first sighting is otherwise no
    change (the operator's start lists every object)."""
    if not now.ready:
        return False
    if changed:
        return True
    return before is not None and (before.arn, before.identifier) != (now.arn, now.identifier)


def named_targets(
    spec: Mapping[str, Any],
    references: tuple[Reference, ...],
    spec_path: Callable[[PropertyPath], tuple[str, ...]],
) -> frozenset[tuple[str, str]]:
    """(target kind, name) of every object a `.spec`'s references name (resolved or not)."""
    targets = {reference.target for reference in references}
    return frozenset((target, name) for target in targets for name in referenced(spec, references, spec_path, target))


@dataclass
class Resolution:
    spec: dict[str, Any]
    """The spec with every resolved reference replaced by its value (the `...Ref(s)` keys removed)."""
    waiting: list[tuple[str, str, str]] = field(default_factory=list)
    """(target kind, target name, why) for every reference that cannot be resolved now."""
    values: list[tuple[str, str, str]] = field(default_factory=list)
    """(target kind, target name, value) for every reference resolved from its target now."""
    kept: list[tuple[str, str]] = field(default_factory=list)
    """(target kind, target name) of every reference that kept what the object settled (`fallback`)."""


Lookup = Callable[[str, str], TargetState | None]
"""(target kind, name) -> what is known of that object in the namespace, or None."""


def _names(refs: Any) -> list[str]:
    """The target names of a `...Ref` (one mapping) or a `...Refs` (a list of them)."""
    items = refs if isinstance(refs, list) else [refs]
    return [str((item or {}).get("name", "")) for item in items if isinstance(item, Mapping)]


def resolve(
    spec: Mapping[str, Any],
    references: tuple[Reference, ...],
    spec_path: Callable[[PropertyPath], tuple[str, ...]],
    lookup: Lookup,
    fallback: Mapping[PropertyPath, str] | None = None,
    settled: Mapping[tuple[str, str], str] | None = None,
    ready_only: bool = True,
) -> Resolution:
    """The spec with its references resolved.

    `ready_only`: a target's value counts only once it is Ready; False (an object being deleted) takes
    the value a target still shows (the ARN of a lifecycle config whose own delete waits).

    `fallback` holds values the object already settled (its identifier's parts, once AWS has the
    resource): a reference that cannot be resolved now takes them, and a nested one without a fallback
    is left out, so that an existing resource stays managed (and deletable) when its target is gone.
    Without a fallback, an unresolved reference is reported in `waiting`.

    `settled` holds what each reference resolved to in what the object last sent to AWS (its
    `status.references`, by target kind and name): a target that cannot be read now (not Ready while it
    changes, not seen yet after a restart) resolves to that, so the object keeps what AWS has, whole.
    """
    resolved: dict[str, Any] = copy.deepcopy(dict(spec))
    waiting: list[tuple[str, str, str]] = []
    dropped: set[str] = set()
    resolved_values: list[tuple[str, str, str]] = []
    kept: list[tuple[str, str]] = []
    for reference in references:
        camel = spec_path(reference.path)
        key = ref_key(reference, camel[-1])
        for parent in list(_parents(resolved, camel[:-1])):
            if key not in parent:
                continue
            names = _names(parent.pop(key))
            values: list[str] = []
            found: list[tuple[str, str, str]] = []
            missing = False
            for name in names:
                target = lookup(reference.target, name)
                value = target.value(reference) if target is not None and (target.ready or not ready_only) else None
                if value is not None:
                    values.append(value)
                    found.append((reference.target, name, value))
                    continue
                if settled and (reference.target, name) in settled:
                    values.append(settled[(reference.target, name)])
                    kept.append((reference.target, name))
                    continue
                missing = True
                if fallback is None:
                    why = "does not exist" if target is None else "is not Ready"
                    waiting.append((reference.target, name, why))
            if not missing:
                resolved_values.extend(found)
                if reference.plural and (values or camel[-1] in parent):
                    given = [v for v in parent.get(camel[-1]) or [] if isinstance(v, str)]
                    parent[camel[-1]] = list(dict.fromkeys([*given, *values]))
                elif values:
                    parent[camel[-1]] = values[0]
            elif fallback is not None:
                kept.extend((reference.target, name) for name in names)
                if not reference.plural and reference.path in fallback:
                    parent[camel[-1]] = fallback[reference.path]
                else:
                    dropped.add(camel[0])  # createOnly or settings below: AWS keeps what it has
    for name in dropped:
        resolved.pop(name, None)
    return Resolution(resolved, waiting, resolved_values, kept)


def referenced(
    spec: Mapping[str, Any],
    references: tuple[Reference, ...],
    spec_path: Callable[[PropertyPath], tuple[str, ...]],
    target: str,
) -> set[str]:
    """The names of the objects of kind `target` that a `.spec`'s references name (resolved or not)."""
    names: set[str] = set()
    for reference in references:
        if reference.target != target:
            continue
        camel = spec_path(reference.path)
        key = ref_key(reference, camel[-1])
        for parent in _parents(spec, camel[:-1]):
            if key in parent:
                names.update(_names(parent[key]))
    return names


def _parents(node: Any, path: tuple[str, ...]) -> Iterator[dict[str, Any]]:
    """Every mapping at `path` below `node`, walking through lists (each item in turn)."""
    if isinstance(node, list):
        for item in node:
            yield from _parents(item, path)
        return
    if not isinstance(node, dict):
        return
    if not path:
        yield node
        return
    yield from _parents(node.get(path[0]), path[1:])
