"""`list`, `get` and `import`: ownership, rendering, manifests and one-line errors, without servers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest
import yaml

from tests.support.kube import REPO_ROOT
from userprofile_operator import cli
from userprofile_operator.inventory import (
    NO_CLUSTER_ACCESS,
    CliError,
    ClusterObject,
    Owner,
    Ownership,
    Row,
    aws_error_message,
    build_manifest,
    check_region,
    classify,
    describe,
    dns_name,
    manifest_names,
    parse_identifier,
    render_list,
    render_manifests,
    render_table,
    sort_rows,
)
from userprofile_operator.kinds.space import KIND as SPACE
from userprofile_operator.kinds.userprofile import KIND as PROFILE
from userprofile_operator.models import DeletionPolicy, spec_model
from userprofile_operator.plan import owner_tag_value
from userprofile_operator.settings import OWNER_TAG_KEY
from userprofile_operator.wire import AwsError

REGION = "us-east-1"
CLUSTER = "prod"
DOMAIN = "d-abcdef123456"
DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def _profile(name: str, owner: str | None = None, **extra: Any) -> dict[str, Any]:
    props: dict[str, Any] = {
        "DomainId": DOMAIN,
        "UserProfileName": name,
        "UserProfileArn": f"arn:aws:sagemaker:{REGION}:123456789012:user-profile/{DOMAIN}/{name}",
        **extra,
    }
    if owner is not None:
        props["Tags"] = [*props.get("Tags", []), {"Key": OWNER_TAG_KEY, "Value": owner}]
    return props


# -- ownership --------------------------------------------------------------------------------


def test_profile_tagged_for_an_object_of_this_cluster_is_managed_by_it() -> None:
    objects = [ClusterObject("ml", "alice", identifier=f"alice|{DOMAIN}", region=REGION)]
    got = classify(PROFILE, _profile("alice", owner_tag_value(CLUSTER, "ml", "alice")), REGION, CLUSTER, objects)
    assert got.owner is Owner.CLUSTER
    assert got.managed_by == "ml/alice"
    assert got.ref == "ml/alice"
    assert not got.importable


def test_profile_with_a_long_hashed_owner_tag_still_finds_its_object() -> None:
    name = "x" * 200
    value = owner_tag_value(CLUSTER, "ml", name)
    assert len(value) == 128 and "~" in value
    got = classify(PROFILE, _profile("alice", value), REGION, CLUSTER, [ClusterObject("ml", name)])
    assert got.managed_by == f"ml/{name}"


def test_profile_of_another_cluster() -> None:
    got = classify(PROFILE, _profile("bob", "staging/ml/bob"), REGION, CLUSTER, [])
    assert (got.owner, got.managed_by, got.cluster) == (Owner.OTHER_CLUSTER, "other-cluster:staging", "staging")
    assert not got.importable


def test_other_cluster_is_known_without_cluster_access() -> None:
    got = classify(PROFILE, _profile("bob", "staging/ml/bob"), REGION, CLUSTER, None)
    assert got.managed_by == "other-cluster:staging"


def test_untagged_profile_is_unmanaged_and_importable() -> None:
    for objects in ([], None, [ClusterObject("ml", "other", identifier=f"other|{DOMAIN}", region=REGION)]):
        got = classify(PROFILE, _profile("carol"), REGION, CLUSTER, objects)
        assert (got.owner, got.managed_by, got.owner_tag) == (Owner.UNMANAGED, "unmanaged", None)
        assert got.importable


def test_our_tag_without_cluster_access_is_unknown() -> None:
    got = classify(PROFILE, _profile("alice", owner_tag_value(CLUSTER, "ml", "alice")), REGION, CLUSTER, None)
    assert (got.owner, got.managed_by) == (Owner.UNKNOWN, NO_CLUSTER_ACCESS)
    assert not got.importable


def test_our_tag_for_an_object_that_is_gone_is_an_orphan() -> None:
    got = classify(PROFILE, _profile("alice", owner_tag_value(CLUSTER, "ml", "alice")), REGION, CLUSTER, [])
    assert (got.owner, got.managed_by) == (Owner.ORPHAN, "orphan:ml/alice")
    assert not got.importable


def test_observed_profile_is_unmanaged_but_not_imported_twice() -> None:
    watcher = {
        "metadata": {"namespace": "audit", "name": "dave"},
        "spec": {"domainId": DOMAIN, "userProfileName": "dave", "region": REGION, "managementPolicy": "ObserveOnly"},
    }
    objects = [ClusterObject.from_body(PROFILE, watcher)]
    got = classify(PROFILE, _profile("dave"), REGION, CLUSTER, objects)
    assert got.owner is Owner.UNMANAGED
    assert got.managed_by == "unmanaged (observed by audit/dave)"
    assert not got.importable
    # the same profile name in another region is someone else's profile
    assert classify(PROFILE, _profile("dave"), "eu-west-1", CLUSTER, objects).importable


def test_cluster_object_from_body_prefers_status() -> None:
    body = {
        "metadata": {"namespace": "ml", "name": "a"},
        "spec": {"domainId": DOMAIN, "userProfileName": "a"},
        "status": {"identifier": f"a|{DOMAIN}", "region": "eu-west-1"},
    }
    obj = ClusterObject.from_body(PROFILE, body)
    assert (obj.ref, obj.identifier, obj.region, obj.observe_only) == ("ml/a", f"a|{DOMAIN}", "eu-west-1", False)
    assert ClusterObject.from_body(PROFILE, {"metadata": {"namespace": "n", "name": "b"}}).identifier is None


# -- rendering --------------------------------------------------------------------------------


def _rows() -> list[Row]:
    role = "arn:aws:iam::123456789012:role/Exec"
    return sort_rows(
        [
            Row(PROFILE, REGION, _profile("zed"), Ownership(Owner.UNMANAGED, "unmanaged")),
            Row(
                PROFILE,
                REGION,
                _profile("amy", "prod/ml/amy", UserSettings={"ExecutionRole": role}),
                Ownership(Owner.CLUSTER, "ml/amy", owner_tag="prod/ml/amy", ref="ml/amy", cluster="prod"),
            ),
        ]
    )


def test_table_has_aligned_columns_and_one_line_per_profile() -> None:
    lines = render_table(PROFILE, _rows()).splitlines()
    assert lines[0].split() == ["PROFILE", "DOMAIN", "EXECUTION-ROLE", "MANAGED-BY"]
    assert lines[1].split() == ["amy", DOMAIN, "arn:aws:iam::123456789012:role/Exec", "ml/amy"]
    assert lines[2].split() == ["zed", DOMAIN, "-", "unmanaged"]
    starts = {line.index(cell) for line, cell in zip(lines, ["MANAGED-BY", "ml/amy", "unmanaged"], strict=True)}
    assert len(starts) == 1


def test_table_of_no_profiles_is_the_header() -> None:
    assert render_table(PROFILE, []).split() == ["PROFILE", "DOMAIN", "EXECUTION-ROLE", "MANAGED-BY"]


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_json_and_yaml_listing(fmt: str) -> None:
    text = render_list(PROFILE, _rows(), fmt)
    items = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    assert [i["userProfileName"] for i in items] == ["amy", "zed"]
    assert items[0]["managedBy"] == "ml/amy"
    assert items[0]["ownership"] == "cluster"
    assert items[0]["executionRole"] == "arn:aws:iam::123456789012:role/Exec"
    assert items[0]["identifier"] == f"amy|{DOMAIN}"
    assert items[1]["ownerTag"] is None


def test_describe_is_every_property_in_camel_case_with_the_arn() -> None:
    props = _profile(
        "amy",
        SingleSignOnUserIdentifier="UserName",
        UserSettings={"AutoMountHomeEFS": "Enabled", "JupyterLabAppSettings": {"DefaultResourceSpec": {}}},
        Tags=[{"Key": "team", "Value": "ml"}],
    )
    document = describe(PROFILE, props)
    assert document["userProfileArn"] == props["UserProfileArn"]
    assert document["singleSignOnUserIdentifier"] == "UserName"
    assert document["userSettings"] == {
        "autoMountHomeEFS": "Enabled",
        "jupyterLabAppSettings": {"defaultResourceSpec": {}},
    }
    assert document["tags"] == [{"key": "team", "value": "ml"}]


# -- manifests --------------------------------------------------------------------------------


def test_dns_names() -> None:
    assert dns_name("alice") == "alice"
    assert dns_name("Alice-Smith") == "alice-smith"
    assert dns_name("--x--") == "x"
    assert dns_name("A" * 63) == "a" * 63
    assert dns_name("é") == "profile"


def test_manifest_names_are_unique_valid_and_deterministic() -> None:
    profiles = {
        f"alice|{DOMAIN}": "alice",
        "alice|d-other": "alice",
        f"Bob|{DOMAIN}": "Bob",
        f"bob|{DOMAIN}": "bob",
        f"carol|{DOMAIN}": "carol",
        f"{'Z' * 63}|{DOMAIN}": "Z" * 63,
        f"taken|{DOMAIN}": "taken",
    }
    names = manifest_names(profiles, taken={"taken"})
    assert names[f"carol|{DOMAIN}"] == "carol"
    assert len(set(names.values())) == len(profiles)
    assert all(DNS_1123_LABEL.match(name) for name in names.values()), names
    for identifier in (f"alice|{DOMAIN}", "alice|d-other"):
        assert re.fullmatch(r"alice-[0-9a-f]{8}", names[identifier])
    assert names[f"taken|{DOMAIN}"].startswith("taken-")
    assert names[f"{'Z' * 63}|{DOMAIN}"] == "z" * 63
    assert manifest_names(dict(reversed(list(profiles.items()))), taken={"taken"}) == names


def _full_state() -> dict[str, Any]:
    example = yaml.safe_load((REPO_ROOT / "examples" / "full.yaml").read_text())
    return spec_model(PROFILE).from_spec(example["spec"]).to_desired_state()


def test_manifest_adopts_the_profile_with_every_writable_property() -> None:
    state = _full_state()
    observed = {
        **state,
        "UserProfileArn": f"arn:aws:sagemaker:{REGION}:123456789012:user-profile/{DOMAIN}/bob",
        "Tags": [*state.get("Tags", []), {"Key": "aws:cloudformation:stack-name", "Value": "s"}],
    }
    manifest = build_manifest(PROFILE, observed, REGION, "bob", "ml")
    assert manifest["apiVersion"] == "sagemaker.awscc.dev/v1alpha1"
    assert manifest["kind"] == "SageMakerUserProfile"
    assert manifest["metadata"] == {"name": "bob", "namespace": "ml"}
    spec = manifest["spec"]
    assert spec["region"] == REGION
    assert spec["adoptionPolicy"] == "Adopt"
    assert spec["deletionPolicy"] == "Delete"
    assert "userProfileArn" not in spec
    parsed = spec_model(PROFILE).from_spec(spec)
    assert parsed.to_desired_state() == state
    assert parsed.identifier == f"bob|{DOMAIN}"


def test_manifest_drops_our_owner_tag_and_keeps_user_tags() -> None:
    props = _profile("amy", "staging/ml/amy", Tags=[{"Key": "team", "Value": "ml"}])
    spec = build_manifest(PROFILE, props, REGION, "amy")["spec"]
    assert spec["tags"] == [{"key": "team", "value": "ml"}]
    only_ours = build_manifest(PROFILE, _profile("amy", "x/y/z"), REGION, "amy", deletion_policy=DeletionPolicy.RETAIN)
    assert "tags" not in only_ours["spec"]
    assert "namespace" not in only_ours["metadata"]
    assert only_ours["spec"]["deletionPolicy"] == "Retain"
    spec_model(PROFILE).from_spec(only_ours["spec"])


def test_manifests_render_as_multi_document_yaml() -> None:
    manifests = [build_manifest(PROFILE, _profile(n), REGION, n, "ml") for n in ("a", "b")]
    docs = list(yaml.safe_load_all(render_manifests(manifests)))
    assert docs == manifests
    assert render_manifests([]) == ""


# -- another kind: spaces (--kind smspace) ------------------------------------------------------


def _space(name: str, owner: str | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {
        "DomainId": DOMAIN,
        "SpaceName": name,
        "SpaceArn": f"arn:aws:sagemaker:{REGION}:123456789012:space/{DOMAIN}/{name}",
        "Url": f"https://{DOMAIN}.studio.{REGION}.sagemaker.aws/jupyterlab/default/spaces/{name}",
        "SpaceSharingSettings": {"SharingType": "Shared"},
        "OwnershipSettings": {"OwnerUserProfileName": "alice"},
    }
    if owner is not None:
        props["Tags"] = [{"Key": OWNER_TAG_KEY, "Value": owner}]
    return props


def test_space_identifiers_are_domain_then_name() -> None:
    assert parse_identifier(SPACE, f"{DOMAIN}|lab", None) == f"{DOMAIN}|lab"
    assert parse_identifier(SPACE, "lab", DOMAIN) == f"{DOMAIN}|lab"
    for text, domain in (("lab", None), (f"{DOMAIN}|", None), (f"{DOMAIN}|lab", "d-other"), ("a|b|c", None)):
        with pytest.raises(CliError):
            parse_identifier(SPACE, text, domain)
    with pytest.raises(CliError, match=r"name the space as DomainId\|SpaceName"):
        parse_identifier(SPACE, "a|b|c", None)


def test_space_ownership_and_table() -> None:
    watcher = {
        "metadata": {"namespace": "audit", "name": "lab"},
        "spec": {"domainId": DOMAIN, "spaceName": "lab", "managementPolicy": "ObserveOnly"},
    }
    objects = [ClusterObject.from_body(SPACE, watcher), ClusterObject("ml", "team")]
    assert objects[0].identifier == f"{DOMAIN}|lab"
    observed = classify(SPACE, _space("lab"), REGION, CLUSTER, objects)
    assert observed.managed_by == "unmanaged (observed by audit/lab)"
    ours = classify(SPACE, _space("team", owner_tag_value(CLUSTER, "ml", "team")), REGION, CLUSTER, objects)
    assert (ours.owner, ours.managed_by) == (Owner.CLUSTER, "ml/team")
    rows = sort_rows([Row(SPACE, REGION, _space("team"), ours), Row(SPACE, REGION, _space("lab"), observed)])
    lines = render_table(SPACE, rows).splitlines()
    assert lines[0].split() == ["SPACE", "DOMAIN", "MANAGED-BY"]
    assert lines[1].split()[:3] == ["lab", DOMAIN, "unmanaged"]
    assert lines[2].split() == ["team", DOMAIN, "ml/team"]
    items = json.loads(render_list(SPACE, rows, "json"))
    assert [(i["spaceName"], i["identifier"]) for i in items] == [("lab", f"{DOMAIN}|lab"), ("team", f"{DOMAIN}|team")]
    assert items[0]["spaceArn"].endswith("/lab")
    assert "executionRole" not in items[0]


def test_space_manifest_leaves_out_what_aws_sets() -> None:
    props = _space("lab", "staging/ml/lab")
    manifest = build_manifest(SPACE, props, REGION, "lab", "ml")
    assert (manifest["apiVersion"], manifest["kind"]) == ("sagemaker.awscc.dev/v1alpha1", "SageMakerSpace")
    spec = manifest["spec"]
    assert "spaceArn" not in spec and "url" not in spec and "tags" not in spec
    assert spec["spaceSharingSettings"] == {"sharingType": "Shared"}
    assert spec["adoptionPolicy"] == "Adopt"
    assert spec_model(SPACE).from_spec(spec).identifier == f"{DOMAIN}|lab"
    assert describe(SPACE, props)["url"] == props["Url"]


def test_cli_refuses_an_unknown_kind_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list", "--kind", "smapp", "--region", REGION]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unknown kind 'smapp'") and "smspace" in err and "smdomain" in err
    assert err.count("\n") == 1


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("region", ["us-east-1", "eu-central-2", "us-gov-west-1", "cn-north-1"])
def test_known_regions(region: str) -> None:
    assert check_region(region) == region


@pytest.mark.parametrize("region", [None, "", "mars", "US-EAST-1", "us-east-99", "us-east-9", "eu-nowhere-1"])
def test_unknown_regions(region: str | None) -> None:
    with pytest.raises(CliError, match="region"):
        check_region(region)


def _error(code: str, message: str, cause: Exception | None = None) -> AwsError:
    err = AwsError(code, message)
    err.__cause__ = cause
    return err


def test_aws_errors_in_one_line() -> None:
    no_creds = _error("InvalidCredentials", "Unable to locate credentials", botocore.exceptions.NoCredentialsError())
    assert aws_error_message(no_creds, REGION) == "no AWS credentials: Unable to locate credentials"
    denied = aws_error_message(_error("AccessDeniedException", "User x is not authorized"), REGION)
    assert denied.startswith("access denied") and "User x is not authorized" in denied
    expired = aws_error_message(_error("ExpiredTokenException", "The security token expired"), REGION)
    assert expired.startswith("invalid AWS credentials")
    network = aws_error_message(_error("NetworkFailure", "EndpointConnectionError: no"), REGION)
    assert network.startswith("cannot reach AWS Cloud Control in us-east-1")
    other = aws_error_message(_error("ValidationException", "bad"), REGION)
    assert other == "AWS error ValidationException in us-east-1: bad"
    for text in (denied, expired, network, other):
        assert "\n" not in text


def test_identifiers() -> None:
    assert parse_identifier(PROFILE, f"alice|{DOMAIN}", None) == f"alice|{DOMAIN}"
    assert parse_identifier(PROFILE, "alice", DOMAIN) == f"alice|{DOMAIN}"
    assert parse_identifier(PROFILE, f"alice|{DOMAIN}", DOMAIN) == f"alice|{DOMAIN}"
    for text, domain in (("alice", None), (f"|{DOMAIN}", None), ("alice|d-x", DOMAIN)):
        with pytest.raises(CliError):
            parse_identifier(PROFILE, text, domain)


def test_cli_refuses_an_unknown_region_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list", "--region", "nowhere"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: unknown region 'nowhere'")
    assert err.count("\n") == 1


def test_cli_needs_a_region(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert cli.main(["get", f"alice|{DOMAIN}"]) == 1
    assert capsys.readouterr().err == "error: no region: pass --region or set AWS_REGION\n"


def test_cli_refuses_a_bad_cluster_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list", "--region", REGION, "--cluster-name", "a/b"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: invalid setting cluster_name") and err.count("\n") == 1


def test_cli_without_credentials_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDCONTROL", "http://127.0.0.1:9")  # never reached
    assert cli.main(["get", f"alice|{DOMAIN}", "--region", REGION]) == 1
    assert capsys.readouterr().err == "error: no AWS credentials: Unable to locate credentials\n"


def test_a_lifecycle_config_adopted_without_a_tag_is_managed_by_the_object_that_names_it() -> None:
    """Its tags are createOnly, so adoption cannot tag it: the object whose status names it manages it."""
    from userprofile_operator.inventory import ClusterObject, Owner, classify
    from userprofile_operator.kinds import by_name

    kind = by_name("smlcc")
    props = {"StudioLifecycleConfigName": "idle", "StudioLifecycleConfigAppType": "JupyterLab"}
    adopted = ClusterObject("team-a", "idle-shutdown", identifier="idle", region="us-east-1")
    assert classify(kind, props, "us-east-1", "kubernetes", [adopted]).ref == "team-a/idle-shutdown"
    assert classify(kind, props, "us-east-1", "kubernetes", []).owner is Owner.UNMANAGED
    assert classify(kind, props, "us-east-1", "kubernetes", None).owner is Owner.UNKNOWN
