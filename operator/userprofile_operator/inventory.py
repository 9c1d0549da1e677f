"""`userprofile-operator list`, `get` and `import`: a kind's resources in a region, whose they are, manifests.

The first half is pure (classify ownership, render table/JSON/YAML, build manifests) and unit-tested
without servers; the second half runs the commands: it reads AWS through `cloudcontrol.py` (the same
credentials, region and endpoint rules, limits and error codes as the operator) and the cluster
through `kube.py`, and turns every failure into one line (`CliError`).

Every function takes the `Kind` (`--kind`, default user profiles). Ownership comes from the
resource's `sagemaker.awscc.dev/owner` tag, `cluster/namespace/name`:

- tagged for this cluster, and that object exists          -> `namespace/name`
- tagged for this cluster, but no such object (Retained)    -> `orphan:namespace/name`
- tagged for another cluster                                -> `other-cluster:<cluster>`
- no tag                                                    -> `unmanaged` (an ObserveOnly object
  that reads it is named: `unmanaged (observed by namespace/name)`)
- tagged for this cluster, and the cluster cannot be read   -> `unknown (no cluster access)`
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import sys
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Literal, TextIO

import pydantic
import yaml

from cfn_registry.schema import MISSING, get_path
from userprofile_operator.kind import Kind
from userprofile_operator.models import (
    REGION_MAX_LENGTH,
    REGION_PATTERN,
    AdoptionPolicy,
    DeletionPolicy,
    ManagementPolicy,
    spec_model,
)
from userprofile_operator.plan import owner_tag_value
from userprofile_operator.settings import OWNER_TAG_KEY

NO_CLUSTER_ACCESS: Final = "unknown (no cluster access)"
LIST_FORMATS: Final = ("table", "json", "yaml")
DOCUMENT_FORMATS: Final = ("yaml", "json")
NAME_MAX_LENGTH: Final = 63  # a DNS-1123 label: valid as metadata.name, and as a label value too
_HASH_LENGTH: Final = 8

OutputFormat = Literal["table", "json", "yaml"]


class CliError(Exception):
    """A failure to report in one line on stderr, with exit code 1."""


# ---------------------------------------------------------------------------------------------
# Ownership


class Owner(StrEnum):
    CLUSTER = "cluster"
    UNMANAGED = "unmanaged"
    OTHER_CLUSTER = "other-cluster"
    ORPHAN = "orphan"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ClusterObject:
    """What `list` and `import` need to know about one managed object in the cluster."""

    namespace: str
    name: str
    identifier: str | None = None
    region: str | None = None
    observe_only: bool = False

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def from_body(cls, kind: Kind, body: Mapping[str, Any]) -> ClusterObject:
        meta = body.get("metadata") or {}
        spec = body.get("spec") or {}
        status = body.get("status") or {}
        identifier = status.get("identifier") or kind.identifier_of_spec(spec)
        return cls(
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name") or ""),
            identifier=identifier or None,
            region=status.get("region") or spec.get("region") or None,
            observe_only=spec.get("managementPolicy") == ManagementPolicy.OBSERVE_ONLY.value,
        )


@dataclass(frozen=True)
class Ownership:
    owner: Owner
    managed_by: str
    """The MANAGED-BY text."""
    owner_tag: str | None = None
    ref: str | None = None
    """`namespace/name` of the object in this cluster that manages (or observes) the profile."""
    cluster: str | None = None
    """The cluster the ownership tag names."""

    @property
    def importable(self) -> bool:
        """Nobody manages or observes it: `import` may write a manifest that adopts it."""
        return self.owner is Owner.UNMANAGED and self.ref is None


def owner_tag(kind: Kind, properties: Mapping[str, Any]) -> str | None:
    """The ownership tag's value; None also for a type without tags (an image version)."""
    path = kind.schema.tag_property
    for tag in (properties.get(path[0]) if path else None) or []:
        if isinstance(tag, Mapping) and tag.get("Key") == OWNER_TAG_KEY:
            return str(tag.get("Value", ""))
    return None


def identifier_of(kind: Kind, properties: Mapping[str, Any]) -> str:
    return "|".join(str(properties.get(path[0], "")) for path in kind.schema.primary_identifier)


def classify(
    kind: Kind,
    properties: Mapping[str, Any],
    region: str,
    cluster_name: str,
    objects: Sequence[ClusterObject] | None,
) -> Ownership:
    """Whose resource this is; `objects` are the cluster's objects of the kind, None without access."""
    tag = owner_tag(kind, properties)
    if tag is not None:
        cluster, _, rest = tag.partition("/")
        if cluster != cluster_name:
            return Ownership(Owner.OTHER_CLUSTER, f"other-cluster:{cluster}", owner_tag=tag, cluster=cluster)
        if objects is None:
            return Ownership(Owner.UNKNOWN, NO_CLUSTER_ACCESS, owner_tag=tag, cluster=cluster)
        for obj in objects:
            if owner_tag_value(cluster_name, obj.namespace, obj.name) == tag:
                return Ownership(Owner.CLUSTER, obj.ref, owner_tag=tag, ref=obj.ref, cluster=cluster)
        return Ownership(Owner.ORPHAN, f"orphan:{rest}", owner_tag=tag, cluster=cluster)
    identifier = identifier_of(kind, properties)
    tags = kind.schema.tag_property
    if tags is None or tags in kind.schema.create_only:
        # A type without tags (an image version), or whose tags AWS sets only at creation (a lifecycle config
        # taken over by adoption), may carry no mark: ours if an object manages its identifier.
        if objects is None:
            return Ownership(Owner.UNKNOWN, NO_CLUSTER_ACCESS)
        for obj in objects:
            if not obj.observe_only and obj.identifier == identifier and obj.region in (None, region):
                return Ownership(Owner.CLUSTER, obj.ref, ref=obj.ref)
    for obj in objects or ():
        if obj.observe_only and obj.identifier == identifier and obj.region in (None, region):
            return Ownership(Owner.UNMANAGED, f"unmanaged (observed by {obj.ref})", ref=obj.ref)
    return Ownership(Owner.UNMANAGED, Owner.UNMANAGED.value)


# ---------------------------------------------------------------------------------------------
# Rendering


@dataclass(frozen=True)
class Row:
    kind: Kind
    region: str
    properties: Mapping[str, Any]
    ownership: Ownership

    @property
    def identifier(self) -> str:
        return identifier_of(self.kind, self.properties)

    @property
    def name(self) -> str:
        return str(self.properties.get(self.kind.name_property, ""))

    @property
    def execution_role(self) -> str | None:
        if self.kind.execution_role is None:
            return None
        role = get_path(self.properties, self.kind.execution_role)
        return str(role) if role is not MISSING and role else None

    def to_dict(self) -> dict[str, Any]:
        spec_name = self.kind.naming.spec_name
        paths = _by_name(self.kind)
        if (self.kind.name_property,) not in paths:  # the identifier is AWS's (a domain's DomainId)
            paths.insert(0, (self.kind.name_property,))
        described: dict[str, Any] = {spec_name(path[0]): self.properties.get(path[0]) for path in paths}
        described.update({"identifier": self.identifier, "region": self.region})
        described[spec_name(self.kind.arn_property)] = self.properties.get(self.kind.arn_property)
        if self.kind.execution_role is not None:
            described["executionRole"] = self.execution_role
        return {
            **described,
            "managedBy": self.ownership.managed_by,
            "ownership": self.ownership.owner.value,
            "object": self.ownership.ref,
            "ownerTag": self.ownership.owner_tag,
        }


def _by_name(kind: Kind) -> list[tuple[str, ...]]:
    """The identifier's paths, the name first (UserProfileName, then DomainId)."""
    return sorted(kind.schema.primary_identifier, key=lambda path: path != (kind.name_property,))


def sort_rows(rows: Iterable[Row]) -> list[Row]:
    return sorted(rows, key=lambda r: (str(r.properties.get("DomainId")), r.name))


def render_table(kind: Kind, rows: Sequence[Row]) -> str:
    with_role = kind.execution_role is not None
    # The second column is the domain's id: for a domain itself, its own.
    domain_column = "ID" if kind.short_noun.upper() == "DOMAIN" else "DOMAIN"
    header = (kind.short_noun.upper(), domain_column, *(("EXECUTION-ROLE",) if with_role else ()), "MANAGED-BY")
    lines = [
        (
            row.name,
            str(row.properties.get("DomainId", "")),
            *((row.execution_role or "-",) if with_role else ()),
            row.ownership.managed_by,
        )
        for row in rows
    ]
    widths = [max(len(cells[i]) for cells in [header, *lines]) for i in range(len(header) - 1)]
    out = []
    for cells in [header, *lines]:
        padded = [cell.ljust(width) for cell, width in zip(cells, widths, strict=False)]
        out.append("   ".join([*padded, cells[-1]]).rstrip())
    return "\n".join(out) + "\n"


def render_document(document: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(document, indent=2) + "\n"
    if fmt == "yaml":
        return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, allow_unicode=True)
    raise ValueError(f"unknown output format {fmt!r}")


def render_list(kind: Kind, rows: Sequence[Row], fmt: str) -> str:
    if fmt == "table":
        return render_table(kind, rows)
    return render_document([row.to_dict() for row in rows], fmt)


def describe(kind: Kind, properties: Mapping[str, Any]) -> dict[str, Any]:
    """Every property of a resource in the CRD's camelCase, the ARN (`userProfileArn`, ...) included."""
    document: dict[str, Any] = kind.naming.cfn_to_spec(dict(properties))
    return document


# ---------------------------------------------------------------------------------------------
# Manifests


def dns_name(resource_name: str, fallback: str = "profile") -> str:
    """A DNS-1123 label from a resource's name: lower case, other characters as `-`, at most 63."""
    base = re.sub(r"[^a-z0-9-]+", "-", resource_name.lower()).strip("-")
    return base[:NAME_MAX_LENGTH].rstrip("-") or fallback


def _hashed(base: str, identifier: str) -> str:
    digest = hashlib.sha256(identifier.encode()).hexdigest()[:_HASH_LENGTH]
    return f"{base[: NAME_MAX_LENGTH - _HASH_LENGTH - 1].rstrip('-')}-{digest}"


def manifest_names(
    profiles: Mapping[str, str], taken: Collection[str] = (), fallback: str = "profile"
) -> dict[str, str]:
    """metadata.name per identifier, from `{identifier: name}` (UserProfileName, SpaceName, ...).

    The lower-cased profile name when it is unique among these profiles and not `taken` (names of
    objects already in the target namespace); else that name plus a short hash of the identifier,
    so two profiles with one name (in two domains, or `Alice` and `alice`) never share a manifest.
    Deterministic: the same profiles always give the same names.
    """
    bases = {identifier: dns_name(name, fallback) for identifier, name in profiles.items()}
    counts = Counter(bases.values())
    names: dict[str, str] = {}
    for identifier, base in bases.items():
        unique = counts[base] == 1 and base not in taken
        names[identifier] = base if unique else _hashed(base, identifier)
    return names


def writable_state(kind: Kind, properties: Mapping[str, Any]) -> dict[str, Any]:
    """The resource as a desired state to adopt: without our ownership tag and AWS's own `aws:` tags."""
    state = dict(properties)
    path = kind.schema.tag_property
    if path is None:
        return state
    key = path[0]
    tags = [
        dict(t)
        for t in state.pop(key, None) or []
        if t.get("Key") != OWNER_TAG_KEY and not str(t.get("Key", "")).startswith("aws:")
    ]
    if tags:
        state[key] = tags
    return state


def build_manifest(
    kind: Kind,
    properties: Mapping[str, Any],
    region: str,
    name: str,
    namespace: str | None = None,
    deletion_policy: DeletionPolicy = DeletionPolicy.DELETE,
) -> dict[str, Any]:
    """An object of the kind that adopts this resource as it is. Raises pydantic.ValidationError."""
    spec = spec_model(kind).from_desired_state(
        writable_state(kind, properties),
        region=region,
        deletion_policy=deletion_policy,
        adoption_policy=AdoptionPolicy.ADOPT,
    )
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": metadata, "spec": spec.to_spec()}


def render_manifests(manifests: Sequence[Mapping[str, Any]]) -> str:
    """Multi-document YAML, ready for `kubectl apply -f -` or a Git repository."""
    return "".join("---\n" + render_document(dict(m), "yaml") for m in manifests)


# ---------------------------------------------------------------------------------------------
# Errors in one line


def check_region(region: str | None) -> str:
    """The region, if it is one: the models' pattern, and a region botocore knows for Cloud Control."""
    if not region:
        raise CliError("no region: pass --region or set AWS_REGION")
    if len(region) > REGION_MAX_LENGTH or not re.fullmatch(REGION_PATTERN, region):
        raise CliError(f"unknown region {region!r}: not an AWS region name (like us-east-1)")
    import boto3

    session = boto3.Session()
    known = {
        name
        for partition in session.get_available_partitions()
        for name in session.get_available_regions("cloudcontrol", partition_name=partition)
    }
    if region not in known:
        raise CliError(f"unknown region {region!r}: AWS Cloud Control is not in that region (as botocore knows)")
    return region


_ACCESS_DENIED: Final = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})
_BAD_CREDENTIALS: Final = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationTokenException",
    }
)


def aws_error_message(err: Exception, region: str) -> str:
    """One line for a failed AWS call (`wire.AwsError`, with the botocore error as its cause)."""
    import botocore.exceptions

    from userprofile_operator.wire import AwsError

    cause = err.__cause__
    if isinstance(cause, botocore.exceptions.NoCredentialsError | botocore.exceptions.PartialCredentialsError):
        return f"no AWS credentials: {cause}"
    if not isinstance(err, AwsError):
        return f"{type(err).__name__}: {err}"
    if err.code in _ACCESS_DENIED:
        return f"access denied (AWS {err.code} in {region}): {err.message}"
    if err.code in _BAD_CREDENTIALS:
        return f"invalid AWS credentials ({err.code}): {err.message}"
    if err.code == "NetworkFailure":
        return f"cannot reach AWS Cloud Control in {region}: {err.message}"
    return f"AWS error {err.code} in {region}: {err.message}"


# ---------------------------------------------------------------------------------------------
# The commands


@dataclass
class Options:
    kind: Kind
    region: str
    cluster_name: str
    max_concurrent: int = 16
    rate: float = 10.0
    burst: int = 20
    domain_id: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    stderr: TextIO = field(default_factory=lambda: sys.stderr)


def options(args: Any) -> Options:
    """Options from parsed arguments: the kind (--kind), the region (--region, else AWS_REGION), the settings."""
    from userprofile_operator.kinds import by_name, default_kind
    from userprofile_operator.settings import Settings

    region = getattr(args, "region", None) or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    try:
        overrides = {"cluster_name": args.cluster_name} if getattr(args, "cluster_name", None) else {}
        settings = Settings(**overrides)
    except pydantic.ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise CliError(f"invalid setting {where}: {first['msg']}") from None
    try:
        kind = by_name(args.kind) if getattr(args, "kind", None) else default_kind()
    except KeyError as err:
        raise CliError(str(err.args[0])) from None
    return Options(
        kind=kind,
        region=check_region(region),
        cluster_name=settings.cluster_name,
        max_concurrent=settings.max_concurrent_aws_calls,
        rate=settings.aws_rate,
        burst=settings.aws_burst,
        domain_id=getattr(args, "domain_id", None),
        kubeconfig=getattr(args, "kubeconfig", None),
        context=getattr(args, "context", None),
    )


async def _read_resources(opts: Options) -> list[dict[str, Any]]:
    """Every resource of the kind in the region (or in one domain): ListResources, then GetResource for each."""
    from userprofile_operator.cloudcontrol import CloudControlPool, Target
    from userprofile_operator.wire import AwsError

    pool = CloudControlPool(opts.max_concurrent, opts.rate, opts.burst)
    try:
        cc = pool.for_target(Target(opts.region), opts.kind)
        if opts.kind.listed_within is None:
            listed = await cc.list_all()
        else:  # one parent at a time (an image's versions)
            from userprofile_operator.kinds import by_name

            parent_kind, key = opts.kind.listed_within
            parents = await pool.for_target(Target(opts.region), by_name(parent_kind)).list_all()
            names = {item["Properties"].get(key) for item in parents} - {None}
            listed = [item for name in sorted(names) for item in await cc.list_all({key: name})]
        identifiers = [
            str(item["Identifier"])
            for item in listed
            if opts.domain_id is None or item["Properties"].get("DomainId") == opts.domain_id
        ]
        described = await asyncio.gather(*(cc.get(identifier) for identifier in identifiers))
    except AwsError as err:
        raise CliError(aws_error_message(err, opts.region)) from None
    finally:
        pool.close()
    return [props for props in described if props is not None]  # None: deleted since it was listed


def _read_cluster(opts: Options) -> list[ClusterObject] | None:
    from userprofile_operator.kube import ClusterAccessError, list_objects

    try:
        bodies = list_objects(opts.kind, opts.kubeconfig, opts.context)
    except ClusterAccessError as err:
        opts.stderr.write(
            f"warning: no cluster access ({err}); {opts.kind.short_noun}s tagged for cluster {opts.cluster_name!r} "
            f"show as {NO_CLUSTER_ACCESS!r}\n"
        )
        return None
    return [ClusterObject.from_body(opts.kind, body) for body in bodies]


async def _inventory(opts: Options) -> tuple[list[Row], list[ClusterObject] | None]:
    cluster = asyncio.create_task(asyncio.to_thread(_read_cluster, opts))
    try:
        profiles = await _read_resources(opts)
    except BaseException:
        await asyncio.gather(cluster, return_exceptions=True)
        raise
    objects = await cluster
    rows = [
        Row(opts.kind, opts.region, props, classify(opts.kind, props, opts.region, opts.cluster_name, objects))
        for props in profiles
    ]
    return sort_rows(rows), objects


def run_list(opts: Options, fmt: str, out: TextIO) -> int:
    rows, _ = asyncio.run(_inventory(opts))
    out.write(render_list(opts.kind, rows, fmt))
    return 0


def parse_identifier(kind: Kind, text: str, domain_id: str | None) -> str:
    """The Cloud Control identifier: as given (`UserProfileName|DomainId`, `DomainId|SpaceName`), or a
    name alone with --domain-id."""
    paths = kind.schema.primary_identifier
    if len(paths) == 1 and text:  # a name (a lifecycle config's) or an ARN (an image's): as given
        return text
    if "|" in text:
        values = dict(zip(paths, text.split("|"), strict=False))
        if len(text.split("|")) != len(paths) or not all(values.values()):
            raise CliError(f"name the {kind.noun} as {kind.identifier_help}, not {text!r}")
    else:
        values = {(kind.name_property,): text, ("DomainId",): domain_id or ""}
        if not text or not domain_id or set(values) != set(paths):
            raise CliError(
                f"name the {kind.noun} as {kind.identifier_help} (or its name with --domain-id), not {text!r}"
            )
    if domain_id and values.get(("DomainId",)) != domain_id:
        raise CliError(f"{text!r} names domain {values.get(('DomainId',))}, --domain-id says {domain_id}")
    return "|".join(values[path] for path in paths)


async def _get(opts: Options, identifier: str) -> dict[str, Any] | None:
    from userprofile_operator.cloudcontrol import CloudControlPool, Target
    from userprofile_operator.wire import AwsError

    pool = CloudControlPool(1, opts.rate, opts.burst)
    try:
        return await pool.for_target(Target(opts.region), opts.kind).get(identifier)
    except AwsError as err:
        raise CliError(aws_error_message(err, opts.region)) from None
    finally:
        pool.close()


def run_get(opts: Options, identifier: str, fmt: str, out: TextIO) -> int:
    properties = asyncio.run(_get(opts, identifier))
    if properties is None:
        raise CliError(f"{opts.kind.noun} {identifier} not found in {opts.region}")
    out.write(render_document(describe(opts.kind, properties), fmt))
    return 0


def _skip_reason(row: Row) -> str:
    ownership = row.ownership
    if ownership.owner is Owner.CLUSTER:
        return f"managed by {ownership.ref}"
    if ownership.owner is Owner.OTHER_CLUSTER:
        return f"owned by another cluster ({ownership.cluster})"
    if ownership.owner is Owner.ORPHAN:
        return f"tagged for {ownership.owner_tag} in this cluster, which has no such object"
    if ownership.owner is Owner.UNKNOWN:
        return f"tagged for this cluster ({ownership.owner_tag}); no cluster access to check"
    return f"observed by {ownership.ref} (ObserveOnly)"


def run_import(
    opts: Options,
    namespace: str | None,
    output_dir: Path | None,
    deletion_policy: DeletionPolicy,
    out: TextIO,
) -> int:
    rows, objects = asyncio.run(_inventory(opts))
    chosen = [row for row in rows if row.ownership.importable]
    skipped = Counter(
        "observed" if row.ownership.owner is Owner.UNMANAGED else row.ownership.owner.value
        for row in rows
        if not row.ownership.importable
    )
    for row in rows:
        if not row.ownership.importable:
            opts.stderr.write(f"skipped {row.identifier}: {_skip_reason(row)}\n")
    taken = {obj.name for obj in objects or () if obj.namespace == namespace} if namespace else set()
    names = manifest_names({row.identifier: row.name for row in chosen}, taken, opts.kind.short_noun)
    manifests: list[dict[str, Any]] = []
    failed = 0
    for row in chosen:
        try:
            manifests.append(
                build_manifest(
                    opts.kind, row.properties, opts.region, names[row.identifier], namespace, deletion_policy
                )
            )
        except pydantic.ValidationError as err:
            failed += 1
            problem = "; ".join(e["msg"] for e in err.errors())
            opts.stderr.write(f"error: cannot import {row.identifier}: {problem}\n")
    if output_dir is None:
        out.write(render_manifests(manifests))
    else:
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
            for manifest in manifests:
                path = output_dir / f"{manifest['metadata']['name']}.yaml"
                path.write_text(render_document(manifest, "yaml"))
        except OSError as err:
            raise CliError(f"cannot write to {output_dir}: {err.strerror or err}") from None
    where = f" to {output_dir}" if output_dir is not None else ""
    summary = ", ".join(f"{count} {owner}" for owner, count in sorted(skipped.items()))
    opts.stderr.write(
        f"imported {len(manifests)} of {len(rows)} {opts.kind.short_noun}s in {opts.region}{where}"
        + (f"; skipped {summary}" if summary else "")
        + (f"; {failed} failed" if failed else "")
        + "\n"
    )
    return 1 if failed else 0
