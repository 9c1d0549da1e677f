"""PascalCase <-> camelCase: one rule, exact both ways, for every property path of the schema."""

from __future__ import annotations

import re

import pytest

from userprofile_operator.kind import Kind
from userprofile_operator.kinds import all_kinds
from userprofile_operator.kinds.userprofile import KIND as PROFILE
from userprofile_operator.naming import Naming, NamingError, camel_case

NAMING = PROFILE.naming
each_kind = pytest.mark.parametrize("kind", all_kinds(), ids=lambda kind: kind.kind)


@pytest.mark.parametrize(
    ("pascal", "camel"),
    [
        ("AutoMountHomeEFS", "autoMountHomeEFS"),
        ("EFSFileSystemConfig", "efsFileSystemConfig"),
        ("S3KmsKeyId", "s3KmsKeyId"),
        ("S3OutputPath", "s3OutputPath"),
        ("S3Uri", "s3Uri"),
        ("S3FileSystemConfig", "s3FileSystemConfig"),
        ("FSxLustreFileSystemConfig", "fSxLustreFileSystemConfig"),
        ("RStudioServerProAppSettings", "rStudioServerProAppSettings"),
        ("DomainId", "domainId"),
        ("Uid", "uid"),
        ("Key", "key"),
        ("SageMakerImageArn", "sageMakerImageArn"),
        ("HiddenSageMakerImageVersionAliases", "hiddenSageMakerImageVersionAliases"),
    ],
)
def test_the_rule_on_the_names_that_matter(pascal: str, camel: str) -> None:
    assert camel_case(pascal) == camel
    assert NAMING.spec_name(pascal) == camel
    assert NAMING.cfn_name(camel) == pascal


def test_the_rule_on_edge_cases() -> None:
    assert camel_case("") == ""
    assert camel_case("already") == "already"
    assert camel_case("ABC") == "abc"
    assert camel_case("S3") == "s3"
    assert camel_case("A3bc") == "a3bc"


@each_kind
def test_the_map_covers_every_name_and_is_a_bijection(kind: Kind) -> None:
    forward = kind.naming.name_map
    assert set(forward) == kind.schema.property_names()
    assert len(set(forward.values())) == len(forward)


@each_kind
def test_camel_names_are_plain_identifiers(kind: Kind) -> None:
    for camel in kind.naming.name_map.values():
        assert re.fullmatch(r"[a-z][A-Za-z0-9]*", camel), camel


def test_a_rule_that_maps_two_names_to_one_is_refused() -> None:
    with pytest.raises(AssertionError, match="not injective"):
        Naming(["EFSConfig", "EfsConfig"])


def test_every_property_path_round_trips() -> None:
    paths = list(PROFILE.schema.iter_property_paths())
    assert len(paths) > 100
    for path in paths:
        camel = NAMING.spec_path(path)
        assert all(name[:1].islower() for name in camel), camel
        assert NAMING.cfn_path(camel) == path


def test_documents_convert_recursively_through_lists() -> None:
    cfn = {
        "UserProfileName": "alice",
        "UserSettings": {
            "CustomFileSystemConfigs": [{"EFSFileSystemConfig": {"FileSystemId": "fs-01234567"}}],
            "SecurityGroups": ["sg-1"],
        },
        "Tags": [{"Key": "team", "Value": "ml"}],
    }
    spec = {
        "userProfileName": "alice",
        "userSettings": {
            "customFileSystemConfigs": [{"efsFileSystemConfig": {"fileSystemId": "fs-01234567"}}],
            "securityGroups": ["sg-1"],
        },
        "tags": [{"key": "team", "value": "ml"}],
    }
    assert NAMING.cfn_to_spec(cfn) == spec
    assert NAMING.spec_to_cfn(spec) == cfn


def test_values_are_never_renamed() -> None:
    assert NAMING.spec_to_cfn({"tags": [{"key": "DomainId", "value": "UserSettings"}]}) == {
        "Tags": [{"Key": "DomainId", "Value": "UserSettings"}]
    }


def test_an_unknown_camel_name_is_refused() -> None:
    with pytest.raises(NamingError, match="executionRoleArn"):
        NAMING.spec_to_cfn({"userSettings": {"executionRoleArn": "x"}})
    assert issubclass(NamingError, ValueError)


def test_an_unknown_cloudformation_name_still_gets_the_rule() -> None:
    # AWS may report a property newer than the vendored schema
    assert NAMING.cfn_to_spec({"BrandNewEFSThing": 1}) == {"brandNewEFSThing": 1}
