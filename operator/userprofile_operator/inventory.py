"""`userprofile-operator list`, `get` and `import`: the profiles of a region, whose they are, manifests.

The first half is pure (classify ownership, render table/JSON/YAML, build manifests) and unit-tested
without servers; the second half runs the commands: it reads AWS through `cloudcontrol.py` (the same
credentials, region and endpoint rules, limits and error codes as the operator) and the cluster
through `kube.py`, and turns every failure into one line (`CliError`).

Ownership comes from the profile's `sagemaker.awscc.dev/owner` tag, `cluster/namespace/name`:

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

from userprofile_operator import GROUP, KIND, VERSION
from userprofile_operator.models import (
    REGION_MAX_LENGTH,
    REGION_PATTERN,
    AdoptionPolicy,
    DeletionPolicy,
    ManagementPolicy,
    SageMakerUserProfileSpec,
)
from userprofile_operator.naming import cfn_to_spec
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
    """What `list` and `import` need to know about one SageMakerUserProfile in the cluster."""

    namespace: str
    name: str
    identifier: str | None = None
    region: str | None = None
    observe_only: bool = False

    @property
    def ref(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> ClusterObject:
        meta = body.get("metadata") or {}
        spec = body.get("spec") or {}
        status = body.get("status") or {}
        identifier = status.get("identifier")
        if not identifier and spec.get("userProfileName") and spec.get("domainId"):
            identifier = f"{spec['userProfileName']}|{spec['domainId']}"
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


def owner_tag(properties: Mapping[str, Any]) -> str | None:
    for tag in properties.get("Tags") or []:
        if isinstance(tag, Mapping) and tag.get("Key") == OWNER_TAG_KEY:
            return str(tag.get("Value", ""))
    return None


def identifier_of(properties: Mapping[str, Any]) -> str:
    return f"{properties.get('UserProfileName', '')}|{properties.get('DomainId', '')}"


def classify(
    properties: Mapping[str, Any],
    region: str,
    cluster_name: str,
    objects: Sequence[ClusterObject] | None,
) -> Ownership:
    """Whose profile this is; `objects` are the cluster's SageMakerUserProfiles, None without access."""
    tag = owner_tag(properties)
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
    identifier = identifier_of(properties)
    for obj in objects or ():
        if obj.observe_only and obj.identifier == identifier and obj.region in (None, region):
            return Ownership(Owner.UNMANAGED, f"unmanaged (observed by {obj.ref})", ref=obj.ref)
    return Ownership(Owner.UNMANAGED, Owner.UNMANAGED.value)


# ---------------------------------------------------------------------------------------------
# Rendering


@dataclass(frozen=True)
class ProfileRow:
    region: str
    properties: Mapping[str, Any]
    ownership: Ownership

    @property
    def identifier(self) -> str:
        return identifier_of(self.properties)

    @property
    def execution_role(self) -> str | None:
        settings = self.properties.get("UserSettings") or {}
        role = settings.get("ExecutionRole") if isinstance(settings, Mapping) else None
        return str(role) if role else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "userProfileName": self.properties.get("UserProfileName"),
            "domainId": self.properties.get("DomainId"),
            "identifier": self.identifier,
            "region": self.region,
            "userProfileArn": self.properties.get("UserProfileArn"),
            "executionRole": self.execution_role,
            "managedBy": self.ownership.managed_by,
            "ownership": self.ownership.owner.value,
            "object": self.ownership.ref,
            "ownerTag": self.ownership.owner_tag,
        }


def sort_rows(rows: Iterable[ProfileRow]) -> list[ProfileRow]:
    return sorted(rows, key=lambda r: (str(r.properties.get("DomainId")), str(r.properties.get("UserProfileName"))))


def render_table(rows: Sequence[ProfileRow]) -> str:
    header = ("PROFILE", "DOMAIN", "EXECUTION-ROLE", "MANAGED-BY")
    lines = [
        (
            str(row.properties.get("UserProfileName", "")),
            str(row.properties.get("DomainId", "")),
            row.execution_role or "-",
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


def render_list(rows: Sequence[ProfileRow], fmt: str) -> str:
    if fmt == "table":
        return render_table(rows)
    return render_document([row.to_dict() for row in rows], fmt)


def describe(properties: Mapping[str, Any]) -> dict[str, Any]:
    """Every property of a profile in the CRD's camelCase, the ARN (`userProfileArn`) included."""
    document: dict[str, Any] = cfn_to_spec(dict(properties))
    return document


# ---------------------------------------------------------------------------------------------
# Manifests


def dns_name(user_profile_name: str) -> str:
    """A DNS-1123 label from a profile name: lower case, other characters as `-`, at most 63."""
    base = re.sub(r"[^a-z0-9-]+", "-", user_profile_name.lower()).strip("-")
    return base[:NAME_MAX_LENGTH].rstrip("-") or "profile"


def _hashed(base: str, identifier: str) -> str:
    digest = hashlib.sha256(identifier.encode()).hexdigest()[:_HASH_LENGTH]
    return f"{base[: NAME_MAX_LENGTH - _HASH_LENGTH - 1].rstrip('-')}-{digest}"


def manifest_names(profiles: Mapping[str, str], taken: Collection[str] = ()) -> dict[str, str]:
    """metadata.name per identifier, from `{identifier: UserProfileName}`.

    The lower-cased profile name when it is unique among these profiles and not `taken` (names of
    objects already in the target namespace); else that name plus a short hash of the identifier,
    so two profiles with one name (in two domains, or `Alice` and `alice`) never share a manifest.
    Deterministic: the same profiles always give the same names.
    """
    bases = {identifier: dns_name(name) for identifier, name in profiles.items()}
    counts = Counter(bases.values())
    names: dict[str, str] = {}
    for identifier, base in bases.items():
        unique = counts[base] == 1 and base not in taken
        names[identifier] = base if unique else _hashed(base, identifier)
    return names


def writable_state(properties: Mapping[str, Any]) -> dict[str, Any]:
    """The profile as a desired state to adopt: without our ownership tag and AWS's own `aws:` tags."""
    state = dict(properties)
    tags = [
        dict(t)
        for t in state.pop("Tags", None) or []
        if t.get("Key") != OWNER_TAG_KEY and not str(t.get("Key", "")).startswith("aws:")
    ]
    if tags:
        state["Tags"] = tags
    return state


def build_manifest(
    properties: Mapping[str, Any],
    region: str,
    name: str,
    namespace: str | None = None,
    deletion_policy: DeletionPolicy = DeletionPolicy.DELETE,
) -> dict[str, Any]:
    """A SageMakerUserProfile that adopts this profile as it is. Raises pydantic.ValidationError."""
    spec = SageMakerUserProfileSpec.from_desired_state(
        writable_state(properties),
        region=region,
        deletion_policy=deletion_policy,
        adoption_policy=AdoptionPolicy.ADOPT,
    )
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": metadata, "spec": spec.to_spec()}


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
    """One line for a failed AWS call (`plan.AwsError`, with the botocore error as its cause)."""
    import botocore.exceptions

    from userprofile_operator.plan import AwsError

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
    """Options from parsed arguments: the region (--region, else AWS_REGION) and the settings."""
    from userprofile_operator.settings import Settings

    region = getattr(args, "region", None) or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    try:
        overrides = {"cluster_name": args.cluster_name} if getattr(args, "cluster_name", None) else {}
        settings = Settings(**overrides)
    except pydantic.ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise CliError(f"invalid setting {where}: {first['msg']}") from None
    return Options(
        region=check_region(region),
        cluster_name=settings.cluster_name,
        max_concurrent=settings.max_concurrent_aws_calls,
        rate=settings.aws_rate,
        burst=settings.aws_burst,
        domain_id=getattr(args, "domain_id", None),
        kubeconfig=getattr(args, "kubeconfig", None),
        context=getattr(args, "context", None),
    )


async def _read_profiles(opts: Options) -> list[dict[str, Any]]:
    """Every profile of the region (or of one domain): ListResources, then GetResource for each."""
    from userprofile_operator.cloudcontrol import CloudControlPool, Target
    from userprofile_operator.plan import AwsError

    pool = CloudControlPool(opts.max_concurrent, opts.rate, opts.burst)
    try:
        cc = pool.for_target(Target(opts.region))
        listed = await cc.list_all()
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
    from userprofile_operator.kube import ClusterAccessError, list_profiles

    try:
        bodies = list_profiles(opts.kubeconfig, opts.context)
    except ClusterAccessError as err:
        opts.stderr.write(
            f"warning: no cluster access ({err}); profiles tagged for cluster {opts.cluster_name!r} "
            f"show as {NO_CLUSTER_ACCESS!r}\n"
        )
        return None
    return [ClusterObject.from_body(body) for body in bodies]


async def _inventory(opts: Options) -> tuple[list[ProfileRow], list[ClusterObject] | None]:
    cluster = asyncio.create_task(asyncio.to_thread(_read_cluster, opts))
    try:
        profiles = await _read_profiles(opts)
    except BaseException:
        await asyncio.gather(cluster, return_exceptions=True)
        raise
    objects = await cluster
    rows = [
        ProfileRow(opts.region, props, classify(props, opts.region, opts.cluster_name, objects)) for props in profiles
    ]
    return sort_rows(rows), objects


def run_list(opts: Options, fmt: str, out: TextIO) -> int:
    rows, _ = asyncio.run(_inventory(opts))
    out.write(render_list(rows, fmt))
    return 0


def parse_identifier(text: str, domain_id: str | None) -> str:
    name, sep, domain = text.partition("|")
    if sep and domain_id and domain != domain_id:
        raise CliError(f"{text!r} names domain {domain}, --domain-id says {domain_id}")
    domain = domain or domain_id or ""
    if not name or not domain:
        raise CliError(f"name the profile as NAME|DOMAIN_ID (or NAME --domain-id DOMAIN_ID), not {text!r}")
    return f"{name}|{domain}"


async def _get(opts: Options, identifier: str) -> dict[str, Any] | None:
    from userprofile_operator.cloudcontrol import CloudControlPool, Target
    from userprofile_operator.plan import AwsError

    pool = CloudControlPool(1, opts.rate, opts.burst)
    try:
        return await pool.for_target(Target(opts.region)).get(identifier)
    except AwsError as err:
        raise CliError(aws_error_message(err, opts.region)) from None
    finally:
        pool.close()


def run_get(opts: Options, identifier: str, fmt: str, out: TextIO) -> int:
    properties = asyncio.run(_get(opts, identifier))
    if properties is None:
        raise CliError(f"user profile {identifier} not found in {opts.region}")
    out.write(render_document(describe(properties), fmt))
    return 0


def _skip_reason(row: ProfileRow) -> str:
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
    names = manifest_names({row.identifier: str(row.properties.get("UserProfileName", "")) for row in chosen}, taken)
    manifests: list[dict[str, Any]] = []
    failed = 0
    for row in chosen:
        try:
            manifests.append(
                build_manifest(row.properties, opts.region, names[row.identifier], namespace, deletion_policy)
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
        f"imported {len(manifests)} of {len(rows)} profiles in {opts.region}{where}"
        + (f"; skipped {summary}" if summary else "")
        + (f"; {failed} failed" if failed else "")
        + "\n"
    )
    return 1 if failed else 0
