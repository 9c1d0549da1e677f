"""The generated CRD: structural, complete, faithful to the CloudFormation schema, and up to date.

What the API server does with it (acceptance, CEL cost, error messages) is proven in
tests/e2e/test_api.py; these tests check the document itself, in milliseconds.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import cfn_registry
from cfn_registry.patterns import python_pattern, re2_pattern
from cfn_registry.schema import PropertyPath
from userprofile_operator.admission import role_paths, tenant_policy_crd_file_name
from userprofile_operator.crd import (
    crd_file_name,
    generated_header,
    immutable_spec_paths,
    operator_spec_fields,
    render_crd,
    render_crd_yaml,
)
from userprofile_operator.kind import CATEGORIES, GROUP, VERSION, Kind
from userprofile_operator.kinds import all_kinds, by_name
from userprofile_operator.kinds.userprofile import KIND as PROFILE
from userprofile_operator.models import ResourceStatus, status_model
from userprofile_operator.references import REF_SUFFIX, Reference, ref_key

REPO_ROOT = Path(__file__).resolve().parents[2]
CRDS = REPO_ROOT / "crds"
CRD_FILE = CRDS / "sagemaker.awscc.dev_sagemakeruserprofiles.yaml"

each_kind = pytest.mark.parametrize("kind", all_kinds(), ids=lambda kind: kind.kind)

# Keywords a structural schema may use (apiextensions.k8s.io/v1); `$ref`, `definitions`,
# `additionalProperties: false`, `uniqueItems: true` and friends are not among them.
ALLOWED_KEYWORDS = {
    "type",
    "description",
    "properties",
    "required",
    "items",
    "enum",
    "pattern",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "format",
    "default",
    "nullable",
    "x-kubernetes-validations",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-preserve-unknown-fields",
}


def _version(kind: Kind = PROFILE) -> dict[str, Any]:
    version: dict[str, Any] = render_crd(kind)["spec"]["versions"][0]
    return version


def _root(kind: Kind = PROFILE) -> dict[str, Any]:
    root: dict[str, Any] = _version(kind)["schema"]["openAPIV3Schema"]
    return root


def _spec(kind: Kind = PROFILE) -> dict[str, Any]:
    spec: dict[str, Any] = _root(kind)["properties"]["spec"]
    return spec


def _nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{name}")
    if "items" in node:
        yield from _nodes(node["items"], f"{path}[]")


def _crd_node(path: tuple[str, ...], kind: Kind = PROFILE) -> dict[str, Any]:
    node = _spec(kind)
    for name in path:
        while node["type"] == "array":
            node = node["items"]
        node = node["properties"][name]
    return node


def _crd_paths(node: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    while node.get("type") == "array":
        node = node["items"]
    for name, child in node.get("properties", {}).items():
        yield (*prefix, name)
        yield from _crd_paths(child, (*prefix, name))


def _ref_path(kind: Kind, reference: Reference) -> tuple[str, ...]:
    """Where the CRD puts a reference: `<field>Ref` beside the field it stands for."""
    camel = kind.naming.spec_path(reference.path)
    return (*camel[:-1], ref_key(reference, camel[-1]))


def _ref_paths(kind: Kind) -> set[tuple[str, ...]]:
    """Every path a kind's references add to the spec: each `<field>Ref` and its `name`."""
    return {path for ref in kind.references for path in (_ref_path(kind, ref), (*_ref_path(kind, ref), "name"))}


def _referenced(kind: Kind, parent: PropertyPath) -> set[str]:
    """The camelCase names of the fields directly below `parent` that a reference can supply."""
    return {kind.naming.spec_name(ref.path[-1]) for ref in kind.references if ref.path[:-1] == parent}


def test_the_profile_crd_file_is_the_generator_output() -> None:
    assert crd_file_name(PROFILE) == CRD_FILE.name
    assert CRD_FILE.read_text() == render_crd_yaml(PROFILE), (
        "crds/ is stale: run `make crd` (.venv/bin/userprofile-operator crd --output-dir crds)"
    )


@each_kind
def test_every_crd_file_is_the_generator_output(kind: Kind) -> None:
    path = CRDS / crd_file_name(kind)
    assert path.is_file(), f"crds/ lacks {path.name}: run `make crd`"
    assert path.read_text() == render_crd_yaml(kind), (
        "crds/ is stale: run `make crd` (.venv/bin/userprofile-operator crd --output-dir crds)"
    )


def test_crds_holds_one_file_per_kind_and_the_tenant_policys_and_nothing_else() -> None:
    expected = [*(crd_file_name(kind) for kind in all_kinds()), tenant_policy_crd_file_name()]
    assert sorted(p.name for p in CRDS.glob("*.yaml")) == sorted(expected)


@each_kind
def test_the_yaml_says_it_is_generated_and_parses_to_the_dict(kind: Kind) -> None:
    text = render_crd_yaml(kind)
    assert text.startswith(generated_header(kind))
    assert text.startswith("# Generated by `userprofile-operator crd`")
    assert kind.type_name in text.splitlines()[0]
    assert yaml.safe_load(text) == render_crd(kind)


@each_kind
def test_names_follow_the_contract(kind: Kind) -> None:
    crd = render_crd(kind)
    assert crd["metadata"]["name"] == kind.crd_name == f"{kind.plural}.{GROUP}"
    spec = crd["spec"]
    assert spec["group"] == GROUP
    assert spec["scope"] == "Namespaced"
    assert spec["names"]["kind"] == kind.kind
    assert spec["names"]["plural"] == kind.plural
    assert spec["names"]["shortNames"] == list(kind.short_names)
    assert spec["names"]["categories"] == ["aws", "sagemaker"] == list(CATEGORIES)
    assert [v["name"] for v in spec["versions"]] == [VERSION]
    version = _version(kind)
    assert version["served"] is True
    assert version["storage"] is True
    assert version["subresources"] == {"status": {}}


@each_kind
def test_the_schema_is_structural(kind: Kind) -> None:
    for path, node in _nodes(_root(kind)):
        assert "type" in node, f"{path or '<root>'} has no type"
        unknown = set(node) - ALLOWED_KEYWORDS
        assert not unknown, f"{path}: {unknown}"
        if node["type"] == "object" and not node.get("x-kubernetes-preserve-unknown-fields"):
            assert "properties" in node or path == ".metadata", f"{path}: object without properties"
        if node["type"] == "array":
            assert "items" in node, path
        for name in node.get("required", []):
            assert name in node["properties"], f"{path}: required {name} is not a property"
    assert "$ref" not in render_crd_yaml(kind)


@each_kind
def test_every_writable_property_is_in_the_spec_and_nothing_else(kind: Kind) -> None:
    expected = {kind.naming.spec_path(path) for path in kind.schema.writable_property_paths()}
    expected |= {(name,) for name in operator_spec_fields(kind)}
    expected |= {("cleanupOnDelete", option) for option in (kind.cleanup.options if kind.cleanup else ())}
    expected |= _ref_paths(kind)
    assert set(_crd_paths(_spec(kind))) == expected


def test_cleanup_on_delete_offers_what_each_kind_can_be_blocked_by_with_safe_defaults() -> None:
    """Apps are compute (deleted by default); a person's spaces and a domain's home volume hold files
    (kept by default). The object defaults to {} so the API server fills in every default."""
    offered = {
        kind.kind: _spec(kind)["properties"]["cleanupOnDelete"] for kind in all_kinds() if kind.cleanup is not None
    }
    assert {kind: set(node["properties"]) for kind, node in offered.items()} == {
        "SageMakerUserProfile": {"apps", "ownedSpaces"},
        "SageMakerSpace": {"apps"},
        "SageMakerDomain": {"homeEfs"},
    }
    profile = offered["SageMakerUserProfile"]
    assert profile["default"] == {}
    assert profile["properties"]["apps"]["default"] == "Delete"
    assert profile["properties"]["ownedSpaces"]["default"] == "Block"
    assert offered["SageMakerDomain"]["properties"]["homeEfs"] == {
        **offered["SageMakerDomain"]["properties"]["homeEfs"],
        "enum": ["Retain", "Delete"],
        "default": "Retain",
    }


def test_read_only_properties_are_left_out() -> None:
    assert PROFILE.schema.read_only == (("UserProfileArn",),)
    assert "userProfileArn" not in _spec()["properties"]


@each_kind
def test_every_constraint_of_the_schema_is_carried_over(kind: Kind) -> None:
    schema = kind.schema
    spec_path = kind.naming.spec_path
    for path in schema.writable_property_paths():
        source = schema.node_at(path)
        node = _crd_node(spec_path(path), kind)
        assert node["type"] == source["type"], path
        keywords = {
            "string": ("enum", "minLength", "maxLength"),
            "array": ("minItems", "maxItems"),
            "integer": ("minimum", "maximum"),
        }.get(source["type"], ())
        opened = next((e for e in kind.open_enums if e.holds(path[-1])), None)
        if opened is not None and source["type"] == "string" and "enum" in source:
            # an open enum (instance types): its form instead of its list, which every listed value meets
            assert "enum" not in node and node["pattern"] == opened.pattern, path
            assert all(re.fullmatch(node["pattern"], value) for value in source["enum"]), path
            continue
        for keyword in keywords:
            if keyword in source:
                assert node[keyword] == source[keyword], (path, keyword)
        if source["type"] == "string" and "pattern" in source:
            assert node["pattern"] == re2_pattern(source["pattern"], source.get("maxLength")), path
        if "required" in source:
            # a field a reference can supply is required as "exactly one of it and its Ref" (CEL), not here
            referenced = _referenced(kind, path)
            required = [name for name in spec_path(tuple(source["required"])) if name not in referenced]
            assert node.get("required", []) == required, path
        if source["type"] == "array" and "items" in source:
            items = schema.resolve(source["items"])
            for keyword in ("enum", "pattern", "maxLength", "minLength"):
                if keyword in items and not (keyword == "enum" and opened is not None):
                    assert keyword in node["items"], (path, keyword)


def test_required_top_level_properties() -> None:
    # domainId is required too, or its domainIdRef: exactly one of the two, by a CEL rule
    assert _spec()["required"] == ["userProfileName"]
    assert _root()["required"] == ["spec"]


@each_kind
def test_the_spec_requires_what_the_schema_requires_but_referenced_fields(kind: Kind) -> None:
    referenced = _referenced(kind, ())
    # a content-addressed kind's name is derived: the spec may give its prefix
    derived = {kind.naming.spec_name(kind.name_property)} if kind.replace_on_change else set()
    expected = [kind.naming.spec_name(name) for name in kind.schema.required]
    assert _spec(kind)["required"] == [name for name in expected if name not in referenced | derived]


def test_patterns_come_from_the_cfn_lint_copy_where_the_registry_has_none() -> None:
    props = _spec()["properties"]
    assert props["domainId"]["pattern"] == "^d-(-*[a-z0-9]){1,61}$"
    assert props["userProfileName"]["pattern"] == "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$"
    tag = props["tags"]["items"]["properties"]
    assert tag["key"]["pattern"] == r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$"
    assert tag["value"]["pattern"] == r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$"


def test_the_app_lifecycle_settings_the_cfn_lint_copy_drops_are_kept() -> None:
    for app in ("jupyterLabAppSettings", "codeEditorAppSettings"):
        idle = _crd_node(("userSettings", app, "appLifecycleManagement", "idleSettings"))
        assert set(idle["properties"]) == {
            "lifecycleManagement",
            "idleTimeoutInMinutes",
            "minIdleTimeoutInMinutes",
            "maxIdleTimeoutInMinutes",
        }


def test_repeat_counts_are_within_re2_limits() -> None:
    url = _crd_node(("userSettings", "jupyterLabAppSettings", "codeRepositories", "repositoryUrl"))
    assert url["pattern"] == "^https://([.\\-_a-zA-Z0-9]+/?){3,}$"
    assert url["maxLength"] == 256
    for path, node in _nodes(_spec()):
        for low_high in re.findall(r"\{(\d+)(?:,(\d*))?\}", node.get("pattern", "")):
            assert all(int(n) <= 1000 for n in low_high if n), path


def test_re2_rewrite_refuses_to_change_meaning() -> None:
    assert re2_pattern("^a{1,5}$", None) == "^a{1,5}$"
    assert re2_pattern("^(ab){2,2000}$", 100) == "^(ab){2,}$"
    with pytest.raises(ValueError, match="RE2"):
        re2_pattern("^(ab){2,2000}$", None)
    with pytest.raises(ValueError, match="RE2"):
        re2_pattern("^(ab){2,2000}$", 5000)


def test_instance_types_are_checked_by_their_form_so_none_the_schemas_list_is_refused() -> None:
    """AWS launches instance types between schema releases: the CRD checks the form, not the 177 of today."""
    schema = PROFILE.schema
    listed = schema.definitions["AppInstanceType"]["enum"]
    assert len(listed) == 177
    instance_type_nodes = [
        node
        for path, node in _nodes(_spec())
        if path.endswith(".instanceType") or path.endswith(".hiddenInstanceTypes[]")
    ]
    assert len(instance_type_nodes) == 5  # 4 app default resource specs + hidden instance types
    every_listed = {value for kind in all_kinds() for enum in kind.open_enums for value in enum.known([kind.schema])}
    assert len(every_listed) >= 177 and "system" in every_listed and "ml.p6-b200.48xlarge" in every_listed
    for node in instance_type_nodes:
        assert "enum" not in node
        assert node["maxLength"] == 64
        form = re.compile(node["pattern"])
        assert all(form.fullmatch(value) for value in every_listed)
        for tomorrow in ("ml.m8i.large", "ml.p7-gb300.96xlarge", "ml.g7e.48xlarge"):
            assert form.fullmatch(tomorrow), tomorrow
        for malformed in ("t3.medium", "ml.t3", "ml.T3.medium", "ml.t3.medium ", "ml..large", "ml.t3.medium.x"):
            assert not form.fullmatch(malformed), malformed
        assert "ml.<family>.<size>" in node["description"]


def test_integers_are_int64_with_their_bounds() -> None:
    uid = _crd_node(("userSettings", "customPosixUserConfig", "uid"))
    assert uid == {
        "type": "integer",
        "description": "The POSIX user id.",
        "minimum": 10000,
        "maximum": 4000000,
        "format": "int64",
    }


def test_unique_items_become_sets_or_cel_rules() -> None:
    for field in ("hiddenMlTools", "hiddenAppTypes", "hiddenInstanceTypes"):
        assert _crd_node(("userSettings", "studioWebPortalSettings", field))["x-kubernetes-list-type"] == "set"
    for path in (
        ("userSettings", "customFileSystemConfigs"),
        ("userSettings", "studioWebPortalSettings", "hiddenSageMakerImageVersionAliases"),
    ):
        node = _crd_node(path)
        assert "x-kubernetes-list-type" not in node
        assert node["x-kubernetes-validations"][0]["message"] == "must not contain duplicate items"
        assert "maxItems" in node
    # uniqueItems: false stays an atomic list
    assert "x-kubernetes-list-type" not in _crd_node(("userSettings", "securityGroups"))


def _rules_for(path: tuple[str, ...], kind: Kind = PROFILE) -> list[dict[str, Any]]:
    """Immutability rules for a spec path: on the field itself, or on spec with a fieldPath."""
    found = [
        rule for rule in _crd_node(path, kind).get("x-kubernetes-validations", []) if rule["rule"] == "self == oldSelf"
    ]
    dotted = ".".join(path)
    found += [rule for rule in _spec(kind).get("x-kubernetes-validations", []) if rule.get("fieldPath") == f".{dotted}"]
    return found


def test_every_create_only_property_of_the_profile_is_counted() -> None:
    assert len(PROFILE.schema.create_only) == 6


@each_kind
def test_every_create_only_property_and_region_is_immutable(kind: Kind) -> None:
    expected = {kind.naming.spec_path(path) for path in kind.schema.create_only} | {("region",)}
    # the reference that stands for a createOnly field is as immutable as the field
    expected |= {_ref_path(kind, ref) for ref in kind.references if ref.path in kind.schema.create_only}
    if kind.replace_on_change:
        expected = {("region",)}  # an edit of its content is a replacement, never refused
    assert set(immutable_spec_paths(kind)) == expected
    for path in expected:
        rules = _rules_for(path, kind)
        assert len(rules) == 1, path
        dotted = ".".join(path)
        assert rules[0]["message"].startswith(f"{dotted} is immutable")
        assert "oldSelf" in rules[0]["rule"]


def test_optional_immutable_fields_are_guarded_against_adding_and_removing() -> None:
    by_field = {rule.get("fieldPath"): rule["rule"] for rule in _spec()["x-kubernetes-validations"]}
    region = by_field[".region"]
    assert region == ("has(self.region) == has(oldSelf.region) && (!has(self.region) || self.region == oldSelf.region)")
    access = by_field[".userSettings.rStudioServerProAppSettings.accessStatus"]
    assert "has(self.userSettings) && has(self.userSettings.rStudioServerProAppSettings)" in access
    assert "has(oldSelf.userSettings.rStudioServerProAppSettings.accessStatus)" in access


@each_kind
def test_strings_compared_by_cel_rules_are_bounded(kind: Kind) -> None:
    for path in immutable_spec_paths(kind):
        for below, node in _nodes(_crd_node(path, kind), ".".join(path)):
            if node["type"] == "string":
                assert "maxLength" in node, below


def test_cross_field_rules() -> None:
    ebs = _crd_node(("userSettings", "spaceStorageSettings", "defaultEbsStorageSettings"))
    assert ebs["x-kubernetes-validations"] == [
        {
            "rule": "self.maximumEbsVolumeSizeInGb >= self.defaultEbsVolumeSizeInGb",
            "message": "maximumEbsVolumeSizeInGb must be greater than or equal to defaultEbsVolumeSizeInGb",
        }
    ]
    for app in ("jupyterLabAppSettings", "codeEditorAppSettings"):
        idle = _crd_node(("userSettings", app, "appLifecycleManagement", "idleSettings"))
        messages = [rule["message"] for rule in idle["x-kubernetes-validations"]]
        assert messages == [
            "minIdleTimeoutInMinutes must be less than or equal to idleTimeoutInMinutes",
            "idleTimeoutInMinutes must be less than or equal to maxIdleTimeoutInMinutes",
            "minIdleTimeoutInMinutes must be less than or equal to maxIdleTimeoutInMinutes",
        ]
    union = _crd_node(("userSettings", "customFileSystemConfigs"))["items"]["x-kubernetes-validations"]
    assert union == [
        {
            "rule": "(has(self.efsFileSystemConfig) ? 1 : 0) + (has(self.fSxLustreFileSystemConfig) ? 1 : 0)"
            " + (has(self.s3FileSystemConfig) ? 1 : 0) == 1",
            "message": (
                "exactly one of efsFileSystemConfig, fSxLustreFileSystemConfig, s3FileSystemConfig must be set"
            ),
        }
    ]
    cross = [r for r in _spec()["x-kubernetes-validations"] if "fieldPath" not in r]
    assert cross == [
        {
            "rule": "has(self.domainId) != has(self.domainIdRef)",
            "message": "exactly one of domainId and domainIdRef must be set",
        },
        {
            "rule": "has(self.singleSignOnUserIdentifier) == has(self.singleSignOnUserValue)",
            "message": ("singleSignOnUserIdentifier and singleSignOnUserValue must be given together or not at all"),
        },
    ]


# -- references: `<field>Ref: {name}` beside a field that names another managed object ---------------

REFERENCES = [(kind, ref) for kind in all_kinds() for ref in kind.references]
each_reference = pytest.mark.parametrize(
    ("kind", "ref"), REFERENCES, ids=[f"{kind.kind}.{'/'.join(ref.path)}" for kind, ref in REFERENCES]
)


def test_the_profile_and_the_space_name_their_parents_by_reference() -> None:
    parents = {
        (kind.kind, _ref_path(kind, ref))
        for kind, ref in REFERENCES
        if ref.target in ("SageMakerDomain", "SageMakerUserProfile", "SageMakerImage") and len(ref.path) <= 2
    }
    assert parents == {
        ("SageMakerUserProfile", ("domainIdRef",)),
        ("SageMakerSpace", ("domainIdRef",)),
        ("SageMakerSpace", ("ownershipSettings", "ownerUserProfileNameRef")),
        ("SageMakerImageVersion", ("imageNameRef",)),
    }


def test_studio_settings_name_scripts_and_images_by_reference_in_every_app_and_every_custom_image() -> None:
    domain = by_name("SageMakerDomain")
    jupyterlab = ("defaultUserSettings", "jupyterLabAppSettings")
    paths = {_ref_path(domain, ref) for ref in domain.references}
    assert (*jupyterlab, "lifecycleConfigArnsRefs") in paths
    assert (*jupyterlab, "defaultResourceSpec", "lifecycleConfigArnRef") in paths
    assert (*jupyterlab, "defaultResourceSpec", "sageMakerImageArnRef") in paths
    assert (*jupyterlab, "defaultResourceSpec", "sageMakerImageVersionArnRef") in paths
    assert (*jupyterlab, "customImages", "imageNameRef") in paths
    assert (*jupyterlab, "customImages", "appImageConfigNameRef") in paths
    assert ("defaultSpaceSettings", "kernelGatewayAppSettings", "lifecycleConfigArnsRefs") in paths
    for kind in (by_name("SageMakerUserProfile"), by_name("SageMakerSpace")):
        settings = "userSettings" if kind.kind == "SageMakerUserProfile" else "spaceSettings"
        own = {_ref_path(kind, ref) for ref in kind.references}
        assert (settings, "kernelGatewayAppSettings", "lifecycleConfigArnsRefs") in own
        assert (settings, "kernelGatewayAppSettings", "customImages", "imageNameRef") in own


def _required_beside(kind: Kind, path: PropertyPath) -> list[str]:
    """What the schema requires of the object (a list's item) that holds the field at `path`."""
    if len(path) == 1:
        return list(kind.schema.required)
    node = kind.schema.node_at(path[:-1])
    while node.get("type") == "array":
        node = kind.schema.resolve(node["items"])
    return list(node.get("required", ()))


@each_reference
def test_a_reference_is_a_name_beside_its_field_and_exactly_one_of_them_is_set(kind: Kind, ref: Reference) -> None:
    field = kind.naming.spec_path(ref.path)
    parent = _crd_node(field[:-1], kind) if len(field) > 1 else _spec(kind)
    while parent["type"] == "array":
        parent = parent["items"]  # a field of a list's items: each item has its own reference
    name, ref_name = field[-1], _ref_path(kind, ref)[-1]
    assert name in parent["properties"]
    assert name not in parent.get("required", []), "the field is optional: its Ref may stand in for it"
    target = by_name(ref.target)
    node = parent["properties"][ref_name]
    name_schema = {"name": {"type": "string", "maxLength": 253, "description": f"metadata.name of the {target.kind}."}}
    assert target.kind in node["description"]
    if ref.plural:
        # a list of values: the targets' values join it, so both may be given
        assert node["type"] == "array" and ref_name == f"{name}Refs"
        assert node["items"]["required"] == ["name"] and node["items"]["properties"] == name_schema
        assert node["maxItems"] == parent["properties"][name]["maxItems"]
        assert not any(ref_name in rule["rule"] for rule in parent.get("x-kubernetes-validations", []))
        return
    assert node["type"] == "object"
    assert node["required"] == ["name"]
    assert node["properties"] == name_schema
    assert f"Instead of {name}" in node["description"]
    if ref.path[-1] in _required_beside(kind, ref.path):
        rule = {
            "rule": f"has(self.{name}) != has(self.{ref_name})",
            "message": f"exactly one of {name} and {ref_name} must be set",
        }
    else:  # optional: neither is fine too
        rule = {
            "rule": f"!has(self.{name}) || !has(self.{ref_name})",
            "message": f"{name} and {ref_name} cannot both be set",
        }
    assert rule in parent["x-kubernetes-validations"]


@each_reference
def test_a_reference_is_as_immutable_as_its_field(kind: Kind, ref: Reference) -> None:
    frozen = immutable_spec_paths(kind)
    ref_path = _ref_path(kind, ref)
    if ref.path in kind.schema.create_only:
        assert ref_path in frozen
        (rule,) = _rules_for(ref_path, kind)
        assert (
            rule["message"]
            == f"{'.'.join(ref_path)} is immutable: it cannot be added, changed or removed after creation"
        )
    elif any(ref.path[: len(path)] == path for path in kind.schema.create_only):
        # below a createOnly object (a space's ownershipSettings): the object's own rule freezes it whole
        assert ref_path not in frozen
        assert any(ref_path[: len(path)] == path for path in frozen if len(path) < len(ref_path)), ref_path
    else:
        # a setting AWS updates (a domain's lifecycle configs): the reference may change like the field
        assert not any(ref_path[: len(path)] == path for path in frozen), ref_path


def test_a_profile_without_references_keeps_its_required_fields() -> None:
    """A kind that declares no references gets no Ref fields and keeps the schema's required list."""
    plain = Kind(
        type_name="AWS::SageMaker::UserProfile",
        kind="SageMakerPlainProfile",
        plural="sagemakerplainprofiles",
        short_names=(),
        noun="user profile",
        short_noun="profile",
        arn_property="UserProfileArn",
        name_property="UserProfileName",
    )
    spec = _spec(plain)
    assert spec["required"] == ["domainId", "userProfileName"]
    assert not any(name.endswith(REF_SUFFIX) for name in spec["properties"])
    assert not any(REF_SUFFIX in rule["rule"] for rule in spec["x-kubernetes-validations"])


def test_operator_fields() -> None:
    props = _spec()["properties"]
    assert props["deletionPolicy"]["enum"] == ["Delete", "Retain"]
    assert props["deletionPolicy"]["default"] == "Delete"
    assert props["managementPolicy"]["enum"] == ["Manage", "ObserveOnly"]
    assert props["managementPolicy"]["default"] == "Manage"
    assert props["adoptionPolicy"]["enum"] == ["Never", "Adopt"]
    assert props["adoptionPolicy"]["default"] == "Never"
    region = re.compile(props["region"]["pattern"])
    for good in (
        "us-east-1",
        "eu-central-1",
        "us-gov-west-1",
        "us-isob-east-1",
        "ap-southeast-3",
        "eusc-de-east-1",
    ):
        assert region.search(good), good
    for bad in ("US-EAST-1", "us-east", "useast1", "us-east-1a", ""):
        assert not region.search(bad), bad
    assert "region" not in _spec()["required"]


@pytest.mark.parametrize(
    "kind",
    [kind for kind in all_kinds()],
    ids=lambda kind: kind.kind,
)
def test_every_field_has_a_description_for_kubectl_explain(kind: Kind) -> None:
    for path, node in _nodes(_spec(kind), ".spec"):
        if path.endswith("[]"):
            continue  # list items are explained by their list
        assert node.get("description"), path


@each_kind
def test_status_schema_matches_the_status_model(kind: Kind) -> None:
    status = _root(kind)["properties"]["status"]
    model_fields = {info.alias or name for name, info in status_model(kind).model_fields.items()}
    assert set(status["properties"]) == model_fields | {"kopf"}
    # the values references settled, where there is one value to show: the parent a profile, a space or an
    # image version names (not the many lifecycle configs and images of a domain's settings)
    base = {info.alias or name for name, info in ResourceStatus.model_fields.items()}
    assert model_fields - base == {
        "SageMakerUserProfile": {"domainId"},
        "SageMakerSpace": {"domainId", "ownerUserProfileName"},
        "SageMakerImageVersion": {"imageName"},
        # content-addressed: the name in use, and the replaced configs still to delete
        "SageMakerStudioLifecycleConfig": {"studioLifecycleConfigName", "retiring"},
    }.get(kind.kind, set())
    assert status["properties"]["kopf"]["x-kubernetes-preserve-unknown-fields"] is True
    assert status["properties"]["awsState"]["x-kubernetes-preserve-unknown-fields"] is True
    assert "x-kubernetes-preserve-unknown-fields" not in status
    assert "required" not in status
    conditions = status["properties"]["conditions"]
    assert conditions["x-kubernetes-list-type"] == "map"
    assert conditions["x-kubernetes-list-map-keys"] == ["type"]
    condition = conditions["items"]["properties"]
    assert set(condition) == {
        "type",
        "status",
        "reason",
        "message",
        "lastTransitionTime",
        "observedGeneration",
    }
    assert condition["lastTransitionTime"]["format"] == "date-time"
    assert condition["observedGeneration"]["format"] == "int64"
    operation = status["properties"]["operation"]["properties"]
    assert set(operation) == {"type", "requestToken", "clientToken", "generation", "startedAt"}
    assert operation["type"]["enum"] == ["CREATE", "UPDATE", "DELETE"]
    for name in ("observedGeneration", "failedGeneration"):
        assert status["properties"][name]["format"] == "int64"
    for name in ("lastSyncTime", "lastDriftCheckTime"):
        assert status["properties"][name]["format"] == "date-time"
    assert status["properties"]["driftDetected"]["type"] == "boolean"


def test_printer_columns() -> None:
    columns = _version()["additionalPrinterColumns"]
    assert [(c["name"].upper(), c["jsonPath"], c.get("priority", 0)) for c in columns] == [
        ("PROFILE", ".spec.userProfileName", 0),
        ("DOMAIN", ".status.domainId", 0),  # the domain in use, also where domainIdRef names it
        ("REGION", ".status.region", 0),
        ("READY", '.status.conditions[?(@.type=="Ready")].status', 0),
        ("SYNCED", '.status.conditions[?(@.type=="Synced")].status', 0),
        ("AGE", ".metadata.creationTimestamp", 0),
        ("ARN", ".status.arn", 1),
    ]


def test_python_translation_of_unicode_classes() -> None:
    pattern = re.compile(python_pattern(r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$"))
    for good in ("team", "Ärger über 42", "データ", "a_b.c:d/e=f+g-h@i", "", "٣"):
        assert pattern.search(good), good
    for bad in ("a*b", "tab\there", "new\nline", "emoji 🙂"):
        assert not pattern.search(bad), bad
    outside = re.compile(python_pattern(r"^\p{N}+$"))
    assert outside.search("123")
    assert not outside.search("12a")
    with pytest.raises(ValueError, match="negated"):
        python_pattern(r"\P{L}")


def test_schema_paths_are_walked_through_definitions() -> None:
    schema = cfn_registry.load(PROFILE.type_name)
    assert schema is PROFILE.schema
    path: PropertyPath = (
        "UserSettings",
        "CustomFileSystemConfigs",
        "FSxLustreFileSystemConfig",
        "FileSystemId",
    )
    assert schema.node_at(path)["pattern"] == "^(fs-[0-9a-f]{8,})$"
    assert schema.primary_identifier == (("UserProfileName",), ("DomainId",))


# -- descriptions copied from another resource's schema ---------------------------------------------------

# Where a kind's CRD may name another kind's resource, each reviewed: the resource it refers to, settings for
# it (a domain's defaults for its users' spaces), or the operator's own references. Registry schemas copy
# descriptions between resources (a domain's tags "to apply to the user profile"); such a copy anywhere else
# fails the test below until it is corrected in the kind's descriptor (`Kind.descriptions`) or reviewed here.
MAY_NAME_ANOTHER_KIND = {
    "SageMakerUserProfile": {
        ".spec.domainId",  # the domain the profile is in
        ".spec.domainIdRef",
        ".spec.singleSignOnUserIdentifier",  # "If the Domain's AuthMode is SSO"
        ".spec.singleSignOnUserValue",
        ".spec.userSettings.spaceStorageSettings",  # the user's spaces
        ".spec.userSettings.studioWebPortalSettings",  # "over the settings applied on a domain level"
        ".spec.userSettings.customFileSystemConfigs",  # mounted in the user's spaces
        ".spec.userSettings.customFileSystemConfigs[].s3FileSystemConfig.mountPath",
        ".spec.cleanupOnDelete.ownedSpaces",  # the private spaces the profile owns
    },
    "SageMakerDomain": {
        ".spec.defaultUserSettings.spaceStorageSettings",  # the defaults of its users' spaces
        ".spec.defaultUserSettings.customFileSystemConfigs",
        ".spec.defaultUserSettings.customFileSystemConfigs[].s3FileSystemConfig.mountPath",
        ".spec.defaultSpaceSettings",  # the defaults of its shared spaces
        ".spec.defaultSpaceSettings.executionRole",
        ".spec.defaultSpaceSettings.spaceStorageSettings",
        ".spec.defaultSpaceSettings.customFileSystemConfigs",
        ".spec.defaultSpaceSettings.customFileSystemConfigs[].s3FileSystemConfig.mountPath",
        ".spec.domainSettings.executionRoleIdentityConfig",  # a user profile's name as sts:SourceIdentity
        ".spec.tagPropagation",  # "tags added to Domain, User Profile and Space"
    },
    "SageMakerSpace": {
        ".spec.domainId",  # the domain the space is in
        ".spec.domainIdRef",
        ".spec.ownershipSettings.ownerUserProfileName",  # the profile that owns it
        ".spec.ownershipSettings.ownerUserProfileNameRef",
        ".spec.spaceSharingSettings",  # "shared in the domain"
    },
}


def _naming_another_kind(kind: Kind) -> dict[str, str]:
    """Every description of the kind's spec that names the resource of another kind, by path (but for the
    kinds its settings point at: a domain's app settings name images and lifecycle configurations)."""
    frozen = kind.schema.create_only
    targets = {ref.target for ref in kind.references if not any(ref.path[: len(p)] == p for p in frozen)}
    # "image" in "image version" is the kind's own noun
    others = [o for o in all_kinds() if o is not kind and o.kind not in targets and o.noun not in kind.noun]
    words = re.compile(r"\b(" + "|".join(re.escape(o.noun) for o in others) + r")s?\b", re.IGNORECASE)
    return {
        path: node["description"]
        for path, node in _nodes(_spec(kind), ".spec")
        if words.search(node.get("description", ""))
    }


@each_kind
def test_no_description_names_another_kinds_resource_where_it_means_this_one(kind: Kind) -> None:
    found = _naming_another_kind(kind)
    unexpected = {path: text for path, text in found.items() if path not in MAY_NAME_ANOTHER_KIND.get(kind.kind, set())}
    assert not unexpected, "copied from another resource's schema? correct it in the kind's descriptions"
    assert set(found) == MAY_NAME_ANOTHER_KIND.get(kind.kind, set()), "a reviewed entry no longer applies: remove it"


def test_the_descriptions_the_registry_copied_are_corrected() -> None:
    domain = by_name("SageMakerDomain")
    assert _spec(domain)["properties"]["tags"]["description"] == "A list of tags to apply to the domain."
    auto_mount = _crd_node(("defaultUserSettings", "autoMountHomeEFS"), domain)["description"]
    assert "user profile" not in auto_mount and "domain" in auto_mount
    # A profile's execution role is a role, not "The user profile Amazon Resource Name (ARN)".
    assert _crd_node(("userSettings", "executionRole"))["description"].startswith("The ARN of the IAM role")


@each_kind
def test_every_role_field_is_described_as_a_role(kind: Kind) -> None:
    for path in role_paths(kind):
        description = _crd_node(kind.naming.spec_path(path), kind)["description"]
        assert "role" in description.lower(), (path, description)


# -- ARNs of every partition ----------------------------------------------------------------------------

# One ARN of each kind of resource the CRDs' patterns name, in the aws partition.
SAMPLE_ARNS = (
    "arn:aws:iam::123456789012:role/service-role/SageMakerExecutionRole",
    "arn:aws:sagemaker:us-east-1:123456789012:studio-lifecycle-config/on-start",
    "arn:aws:sagemaker:us-east-1:123456789012:training-plan/plan-1",
    "arn:aws:sagemaker:us-east-1:123456789012:image/my-image",
    "arn:aws:sagemaker:us-east-1:123456789012:image-version/my-image/1",
)


def _arn_patterns() -> dict[str, str]:
    """Every pattern of the CRDs (each kind's and the tenant policy's) that is written for ARNs, by path."""
    found: dict[str, str] = {}
    for path in sorted(CRDS.glob("*.yaml")):
        crd = yaml.safe_load(path.read_text().split("---", 1)[1])
        root = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
        for node_path, node in _nodes(root, path.name):
            if "arn:" in node.get("pattern", ""):
                found[node_path] = node["pattern"]
    return found


def test_arns_of_every_partition_are_accepted() -> None:
    """China (aws-cn) and GovCloud (aws-us-gov) ARNs pass every pattern the aws one passes."""
    patterns = _arn_patterns()
    assert len(patterns) > 20
    for path, pattern in patterns.items():
        form = re.compile(pattern)
        matching = [arn for arn in SAMPLE_ARNS if form.search(arn)]
        assert matching, f"{path}: no sample ARN for {pattern}; add one to SAMPLE_ARNS"
        for arn in matching:
            for partition in ("aws-cn", "aws-us-gov"):
                other = arn.replace("arn:aws:", f"arn:{partition}:", 1)
                assert form.search(other), (path, other)
