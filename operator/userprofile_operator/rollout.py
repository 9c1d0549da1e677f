"""Replacing a content-addressed resource (`Kind.replace_on_change`): pure decisions, no I/O.

AWS cannot change a Studio lifecycle config: every property is createOnly. People edit its script in
git all the same, so an edit is a new resource under a new name, the name of the object plus a short
hash of the content (kustomize's configMapGenerator names its ConfigMaps the same way). This module
says what that name is, which old resources an object still has to delete (`status.retiring`), and who
of ours still holds on to one of them, from what the watch events showed of every object. The
reconciler acts on it; the runtime keeps the view of the objects.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from userprofile_operator.kind import Kind
from userprofile_operator.references import TargetState

__all__ = ["HASH_LENGTH", "Holders", "content_addressed", "content_name", "holders", "named_spec", "roll"]

HASH_LENGTH: Final = 10
"""Hex digits of the content hash in a name (40 bits, as many characters as kustomize's suffix)."""


def content_name(prefix: str, content: Mapping[str, Any], max_length: int) -> str:
    """`<prefix>-<hash>`: the prefix made fit for an AWS name (lower case, letters, digits and single
    dashes, starting with a letter or digit; AWS lower-cases these names anyway), cut so that the whole
    stays within `max_length`; the hash is of the canonical JSON of `content`."""
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    cleaned = re.sub(r"[^a-z0-9]+", "-", prefix.lower()).strip("-")
    # A prefix that is already this content's name (an import of a config made so, in this or another
    # cluster) keeps it: the hash is not added twice.
    cleaned = cleaned.removesuffix(f"-{digest[:HASH_LENGTH]}")
    cleaned = cleaned[: max(0, max_length - HASH_LENGTH - 1)].rstrip("-")
    return f"{cleaned}-{digest[:HASH_LENGTH]}" if cleaned else digest[:HASH_LENGTH]


def _canonical(value: Any) -> Any:
    """Tags compared as a set (as everywhere else): their order never makes a new name."""
    if isinstance(value, list) and all(isinstance(item, Mapping) and "key" in item for item in value):
        return sorted(value, key=lambda item: (str(item.get("key")), str(item.get("value"))))
    return value


def named_spec(kind: Kind, object_name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec with the kind's name property set to its derived name: the spec's own value (or the
    object's name) as the prefix, then the hash of every other createOnly property as the spec gives
    them (references resolved). Other kinds: the spec as it is."""
    if not kind.replace_on_change:
        return dict(spec)
    name_field = kind.naming.spec_name(kind.name_property)
    content = {
        kind.naming.spec_name(path[0]): _canonical(spec[kind.naming.spec_name(path[0])])
        for path in kind.schema.create_only
        if len(path) == 1 and path[0] != kind.name_property and kind.naming.spec_name(path[0]) in spec
    }
    max_length = int(kind.schema.node_at((kind.name_property,)).get("maxLength", 63))
    prefix = str(spec.get(name_field) or object_name)
    return {**spec, name_field: content_name(prefix, content, max_length)}


_CONTENT_NAME: Final = re.compile(rf"(^|-)[0-9a-f]{{{HASH_LENGTH}}}$")


def content_addressed(name: str) -> bool:
    """Whether `name` has the form of a name `content_name` makes (`<prefix>-<hash>`)."""
    return bool(_CONTENT_NAME.search(name))


def roll(retiring: Sequence[Mapping[str, Any]], current: Mapping[str, Any] | None, new: str) -> list[dict[str, Any]]:
    """`status.retiring` once the object moves to the resource `new`: the one in use so far (`current`:
    identifier and arn) joins the list, once; `new` leaves it (an edit taken back revives the old name).
    One not named by its content was adopted (imported), not made by an edit: it is let go, never
    deleted, as other domains of the account may still use it."""
    out = [dict(entry) for entry in retiring if entry.get("identifier") != new]
    previous = (current or {}).get("identifier")
    if not previous or not content_addressed(str(previous)):
        return out
    if previous != new and all(entry.get("identifier") != previous for entry in out):
        out.append({"identifier": previous, "arn": (current or {}).get("arn")})
    return out


@dataclass(frozen=True)
class Holders:
    """Objects of ours that may still use an old resource, and why."""

    reasons: tuple[str, ...] = ()
    """One line per holder: `SageMakerDomain team-a/studio (...)`."""
    laggards: tuple[tuple[str, str, str], ...] = ()
    """(kind, namespace, name) of the objects that name the target by reference and have not moved to its
    current value yet: asked to look at their references again."""


def _strings(node: Any) -> Iterable[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)


def holders(
    target: tuple[str, str, str],
    current: str | None,
    old: Iterable[str],
    seen: Mapping[tuple[str, str, str], TargetState],
) -> Holders:
    """Who of ours may still use one of the `old` values of `target` (kind, namespace, name), whose value
    is `current` now. An object holds on when
    - the values it last sent to AWS (`status.references`) include an old one;
    - it names the target by reference, AWS has it, and it has not recorded the current value yet (it
      follows; a reference it cannot resolve keeps what it had);
    - its spec gives an old value itself (a pasted ARN, any namespace): it never follows, and the old
      resource stays until that object changes.
    Objects outside this operator's view are SageMaker's to report (ResourceConflict on the delete)."""
    kind, namespace, name = target
    old_values = {value for value in old if value}
    reasons: list[str] = []
    laggards: list[tuple[str, str, str]] = []
    for key, state in sorted(seen.items()):
        if key == target:
            continue
        where = f"{key[0]} {key[1]}/{key[2]}"
        recorded = state.recorded.get((kind, name)) if key[1] == namespace else None
        if key[1] == namespace and (kind, name) in state.named and state.in_aws and recorded != current:
            reasons.append(f"{where} (names it by reference; not moved to the new one yet)")
            laggards.append(key)
        elif old_values & set(state.recorded.values()):
            reasons.append(f"{where} (its last change in AWS used it)")
        elif old_values & set(_strings(state.spec)):
            reasons.append(f"{where} (its spec gives the old ARN itself, not a reference: it does not follow)")
    return Holders(tuple(reasons), tuple(laggards))
