"""The managed kinds as values: found by any of their names, a CRD each, names that round-trip.

What the generated CRDs hold in detail is tested in test_crd.py; this file checks what the kinds add:
how a user names a kind (`--kind`, kubectl short names), that every kind's CRD generates with its
createOnly properties frozen, and the space's own CRD.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from userprofile_operator import admission, cli
from userprofile_operator.crd import crd_file_name, render_crd, render_crd_yaml
from userprofile_operator.kind import CATEGORIES, GROUP, VERSION, Kind
from userprofile_operator.kinds import all_kinds, by_name, default_kind
from userprofile_operator.kinds.domain import KIND as DOMAIN
from userprofile_operator.kinds.space import KIND as SPACE
from userprofile_operator.kinds.userprofile import KIND as PROFILE

each_kind = pytest.mark.parametrize("kind", all_kinds(), ids=lambda kind: kind.kind)


def _spec_schema(kind: Kind) -> dict[str, Any]:
    spec: dict[str, Any] = render_crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    return spec


def _node(spec: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    node = spec
    for name in path:
        while node["type"] == "array":
            node = node["items"]
        node = node["properties"][name]
    return node


# -- finding a kind -------------------------------------------------------------------------------


def test_the_kinds_are_the_profile_first_then_by_kind_name() -> None:
    assert [kind.kind for kind in all_kinds()] == [
        "SageMakerUserProfile",
        "SageMakerAppImageConfig",
        "SageMakerDomain",
        "SageMakerImage",
        "SageMakerImageVersion",
        "SageMakerSpace",
        "SageMakerStudioLifecycleConfig",
    ]
    assert default_kind() is PROFILE
    assert (PROFILE.type_name, DOMAIN.type_name, SPACE.type_name) == (
        "AWS::SageMaker::UserProfile",
        "AWS::SageMaker::Domain",
        "AWS::SageMaker::Space",
    )
    assert (DOMAIN.kind, DOMAIN.plural, DOMAIN.short_names) == ("SageMakerDomain", "sagemakerdomains", ("smdomain",))
    assert (PROFILE.kind, PROFILE.plural, PROFILE.short_names) == (
        "SageMakerUserProfile",
        "sagemakeruserprofiles",
        ("smup",),
    )


def test_no_two_kinds_share_a_name() -> None:
    names = [{kind.kind.lower(), kind.plural, kind.singular, *kind.short_names} for kind in all_kinds()]
    assert sum(len(n) for n in names) == len(set().union(*names))
    assert len({kind.crd_name for kind in all_kinds()}) == len(all_kinds())
    assert len({crd_file_name(kind) for kind in all_kinds()}) == len(all_kinds())


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("SageMakerUserProfile", PROFILE),
        ("sagemakeruserprofile", PROFILE),
        ("sagemakeruserprofiles", PROFILE),
        ("smup", PROFILE),
        ("SMUP", PROFILE),
        ("SageMakerSpace", SPACE),
        ("SAGEMAKERSPACE", SPACE),
        ("sagemakerspaces", SPACE),
        ("SageMakerSpaces", SPACE),
        ("smspace", SPACE),
        ("SmSpace", SPACE),
        ("SageMakerDomain", DOMAIN),
        ("sagemakerdomains", DOMAIN),
        ("smdomain", DOMAIN),
        ("SMDOMAIN", DOMAIN),
    ],
)
def test_a_kind_is_found_by_kind_plural_or_short_name_in_any_case(name: str, expected: Kind) -> None:
    assert by_name(name) is expected


@pytest.mark.parametrize("name", ["smapp", "", "space", "domain", "sagemaker", "AWS::SageMaker::Space"])
def test_an_unknown_name_is_refused_with_the_known_names(name: str) -> None:
    with pytest.raises(KeyError) as info:
        by_name(name)
    message = str(info.value.args[0])
    assert repr(name) in message
    for kind in all_kinds():
        assert kind.plural in message
        for short in kind.short_names:
            assert short in message


# -- each kind's CRD ------------------------------------------------------------------------------


@each_kind
def test_the_kind_agrees_with_its_schema(kind: Kind) -> None:
    schema = kind.schema
    assert schema.type_name == kind.type_name
    assert (kind.arn_property,) in schema.read_only
    if kind.generated_identifier:
        # AWS makes the identifier; the name a user gives finds an existing one, and never changes
        assert (kind.name_property,) not in schema.primary_identifier
        assert kind.name_property in schema.required and (kind.name_property,) in schema.create_only
    else:
        assert (kind.name_property,) in schema.primary_identifier
    # tags where the type has them (an image version has none: it is ours by its identifier)
    assert schema.tag_property == (("Tags",) if schema.tagging.get("taggable") else None)
    assert kind.api_version == f"{GROUP}/{VERSION}"
    assert kind.crd_name == f"{kind.plural}.{GROUP}"
    assert kind.resource == (GROUP, VERSION, kind.plural)


@each_kind
def test_the_crd_generates_and_every_create_only_path_has_an_immutability_rule(kind: Kind) -> None:
    text = render_crd_yaml(kind)
    crd = yaml.safe_load(text)
    assert crd == render_crd(kind)
    assert crd["metadata"]["name"] == kind.crd_name
    spec = _spec_schema(kind)
    assert kind.schema.create_only, "every kind so far has createOnly properties"
    if kind.replace_on_change:
        # content-addressed (a lifecycle config): an edit is a replacement, so none is immutable
        immutable = [r.get("fieldPath") for r in spec["x-kubernetes-validations"] if "immutable" in r["message"]]
        assert immutable == [".region"]
        return
    for path in kind.schema.create_only:
        camel = kind.naming.spec_path(path)
        dotted = ".".join(camel)
        on_field = [r for r in _node(spec, camel).get("x-kubernetes-validations", []) if r["rule"] == "self == oldSelf"]
        on_spec = [r for r in spec["x-kubernetes-validations"] if r.get("fieldPath") == f".{dotted}"]
        rules = on_field + on_spec
        assert len(rules) == 1, (path, rules)
        assert "oldSelf" in rules[0]["rule"]
        assert rules[0]["message"].startswith(f"{dotted} is immutable")


def test_the_space_crd() -> None:
    crd = render_crd(SPACE)
    names = crd["spec"]["names"]
    assert (names["kind"], names["plural"], names["singular"]) == (
        "SageMakerSpace",
        "sagemakerspaces",
        "sagemakerspace",
    )
    assert names["shortNames"] == ["smspace"]
    assert names["categories"] == ["aws", "sagemaker"] == list(CATEGORIES)
    assert crd["metadata"]["name"] == "sagemakerspaces.sagemaker.awscc.dev"
    spec = _spec_schema(SPACE)
    props = spec["properties"]
    assert SPACE.schema.read_only == (("SpaceArn",), ("Url",))
    assert "spaceArn" not in props and "url" not in props  # readOnly: AWS's to set
    assert "spaceSettings" in props
    assert {"appType", "jupyterLabAppSettings", "codeEditorAppSettings"} <= set(props["spaceSettings"]["properties"])
    assert spec["required"] == ["spaceName"]  # domainId, or domainIdRef: exactly one (CEL)
    assert {"region", "deletionPolicy", "managementPolicy", "adoptionPolicy"} <= set(props)
    immutable = {rule.get("fieldPath") for rule in spec["x-kubernetes-validations"]}
    assert {".spaceSharingSettings", ".ownershipSettings", ".region"} <= immutable
    together = [rule for rule in spec["x-kubernetes-validations"] if "fieldPath" not in rule]
    assert together == [
        {
            "rule": "has(self.domainId) != has(self.domainIdRef)",
            "message": "exactly one of domainId and domainIdRef must be set",
        },
        {
            "rule": "has(self.ownershipSettings) == has(self.spaceSharingSettings)",
            "message": "ownershipSettings and spaceSharingSettings must be given together",
        },
    ]
    columns = crd["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [c["name"] for c in columns] == [
        "Space",
        "Domain",
        "Sharing",
        "Owner",
        "Region",
        "Ready",
        "Synced",
        "Age",
        "ARN",
    ]
    identifier = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"][
        "identifier"
    ]
    assert "domainId|spaceName" in identifier["description"]


def test_the_domain_crd() -> None:
    """AWS makes a domain's id: the spec has no domainId, and the id is shown from status."""
    crd = render_crd(DOMAIN)
    assert crd["metadata"]["name"] == "sagemakerdomains.sagemaker.awscc.dev"
    assert crd["spec"]["names"]["shortNames"] == ["smdomain"]
    assert DOMAIN.generated_identifier and not PROFILE.generated_identifier and not SPACE.generated_identifier
    spec = _spec_schema(DOMAIN)
    assert "domainId" not in spec["properties"] and "domainArn" not in spec["properties"]  # readOnly
    assert spec["required"] == ["authMode", "defaultUserSettings", "domainName"]
    immutable = {rule.get("fieldPath") for rule in spec["x-kubernetes-validations"]}
    assert {".kmsKeyId", ".region"} <= immutable
    assert _node(spec, ("domainName",))["x-kubernetes-validations"] == [
        {"rule": "self == oldSelf", "message": "domainName is immutable"}
    ]
    columns = crd["spec"]["versions"][0]["additionalPrinterColumns"]
    assert [(c["name"], c["jsonPath"]) for c in columns][:3] == [
        ("Domain", ".spec.domainName"),
        ("Id", ".status.identifier"),
        ("Auth", ".spec.authMode"),
    ]
    status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
    assert "domainId" in status["properties"]["identifier"]["description"]


def test_kubectl_explain_says_space_settings_are_not_checked_for_drift() -> None:
    description = _spec_schema(SPACE)["properties"]["spaceSettings"]["description"]
    assert "write-only" in description.lower()


# -- naming ---------------------------------------------------------------------------------------


@each_kind
def test_every_property_path_round_trips_through_the_kinds_naming(kind: Kind) -> None:
    paths = list(kind.schema.iter_property_paths())
    assert paths
    for path in paths:
        camel = kind.naming.spec_path(path)
        assert all(name[:1].islower() for name in camel), camel
        assert kind.naming.cfn_path(camel) == path
    top_level = {path[0]: index for index, path in enumerate(paths) if len(path) == 1}
    document = kind.naming.cfn_to_spec(top_level)
    assert kind.naming.spec_to_cfn(document) == top_level


# -- the crd command ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], PROFILE),
        (["--kind", "smspace"], SPACE),
        (["--kind", "smdomain"], DOMAIN),
        (["--kind", "SageMakerUserProfile"], PROFILE),
    ],
)
def test_the_crd_command_prints_one_kinds_crd(
    argv: list[str], expected: Kind, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["crd", *argv]) == 0
    assert capsys.readouterr().out == render_crd_yaml(expected)


def test_the_crd_command_refuses_an_unknown_kind_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["crd", "--kind", "smapp"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: unknown kind 'smapp'") and captured.err.count("\n") == 1
    assert "smspace" in captured.err and "smdomain" in captured.err


def test_the_crd_command_writes_every_kind_to_a_folder(tmp_path: Path) -> None:
    assert cli.main(["crd", "--output-dir", str(tmp_path)]) == 0
    tenant_policy = admission.tenant_policy_crd_file_name()
    names = sorted([*(crd_file_name(kind) for kind in all_kinds()), tenant_policy])
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    for kind in all_kinds():
        assert (tmp_path / crd_file_name(kind)).read_text() == render_crd_yaml(kind)
    assert (tmp_path / tenant_policy).read_text() == admission.render_tenant_policy_crd_yaml()


def test_the_crd_command_writes_the_guardrails_and_prints_the_tenant_policy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["crd", "--policies-dir", str(tmp_path / "admission")]) == 0
    written = sorted(p.name for p in (tmp_path / "admission").iterdir())
    assert written == sorted(admission.policy_files())
    assert {admission.policy_file_name(kind) for kind in all_kinds()} <= set(written)
    assert capsys.readouterr().out == ""
    assert cli.main(["crd", "--kind", "smtp"]) == 0
    assert capsys.readouterr().out == admission.render_tenant_policy_crd_yaml()


def test_the_platform_kinds_have_the_names_and_types_of_the_design() -> None:
    assert {
        kind.kind: (kind.type_name, kind.plural, kind.short_names)
        for kind in all_kinds()
        if kind not in (PROFILE, DOMAIN, SPACE)
    } == {
        "SageMakerStudioLifecycleConfig": (
            "AWS::SageMaker::StudioLifecycleConfig",
            "sagemakerstudiolifecycleconfigs",
            ("smlcc",),
        ),
        "SageMakerImage": ("AWS::SageMaker::Image", "sagemakerimages", ("smimage",)),
        "SageMakerImageVersion": ("AWS::SageMaker::ImageVersion", "sagemakerimageversions", ("smimageversion",)),
        "SageMakerAppImageConfig": ("AWS::SageMaker::AppImageConfig", "sagemakerappimageconfigs", ("smaic",)),
    }
