"""A domain's home EFS volume, and deleting the domain through SageMaker and through Cloud Control.

Every domain (made through Cloud Control or seeded) has a home EFS file system: its
HomeEfsFileSystemId is in Cloud Control's model and DescribeDomain, and EFS's DescribeFileSystems
shows it, tagged with the domain's ARN. SageMaker's DeleteDomain is refused while the domain holds
profiles, spaces or apps; otherwise the domain is Deleting, then gone, and its volume goes with it
only with ``RetentionPolicy.HomeEfsFileSystem: Delete``. Cloud Control's delete sends no retention
policy, so its volume always stays. Every call counts in the stats under its operation's name.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conformance import helpers as cc
from tests.conformance.helpers import DOMAIN, DOMAIN_TYPE, REGION, app_keys, assert_conforms, error_of
from tests.support.emulator import EmulatorProcess

DOMAIN_ARN = f"arn:aws:sagemaker:{REGION}:123456789012:domain/{DOMAIN}"


def home_volume(sagemaker: Any, domain_id: str = DOMAIN) -> str:
    volume: str = sagemaker.describe_domain(DomainId=domain_id)["HomeEfsFileSystemId"]
    return volume


def volumes(efs: Any) -> list[str]:
    return [fs["FileSystemId"] for fs in efs.describe_file_systems()["FileSystems"]]


def domain_gone(sagemaker: Any, domain_id: str = DOMAIN) -> None:
    cc.wait_gone(sagemaker.describe_domain, DomainId=domain_id)


def test_every_domain_has_a_home_volume(sagemaker: Any, client: Any, efs: Any, emulator: EmulatorProcess) -> None:
    described = sagemaker.describe_domain(DomainId=DOMAIN)
    assert_conforms(sagemaker, "DescribeDomain", described)
    assert (described["Status"], described["DomainArn"]) == ("InService", DOMAIN_ARN)
    volume = described["HomeEfsFileSystemId"]
    assert re.fullmatch(r"fs-[0-9a-f]{17}", volume)
    assert cc.get_properties(client, DOMAIN, DOMAIN_TYPE)["HomeEfsFileSystemId"] == volume
    made = cc.create_and_wait(client, cc.domain(SubnetIds=["subnet-0123abcd", "subnet-89abcdef"]), DOMAIN_TYPE)
    other = cc.get_properties(client, made["Identifier"], DOMAIN_TYPE)["HomeEfsFileSystemId"]
    assert home_volume(sagemaker, made["Identifier"]) == other != volume
    answer = efs.describe_file_systems(FileSystemId=other)
    assert_conforms(efs, "DescribeFileSystems", answer)
    [found] = answer["FileSystems"]
    assert found["Tags"] == [
        {
            "Key": "ManagedByAmazonSageMakerResource",
            "Value": f"arn:aws:sagemaker:{REGION}:123456789012:domain/{made['Identifier']}",
        }
    ]
    assert (found["LifeCycleState"], found["NumberOfMountTargets"], found["OwnerId"]) == (
        "available",
        2,
        "123456789012",
    )
    assert found["FileSystemArn"] == f"arn:aws:elasticfilesystem:{REGION}:123456789012:file-system/{other}"
    assert found["CreationTime"].timestamp() > 0
    assert volumes(efs) == sorted([volume, other])
    # Each region has its own volumes.
    assert volumes(emulator.efs_client("eu-west-1")) == []


def test_describe_file_systems_pages_and_knows_no_other_volume(efs: Any, emulator: EmulatorProcess) -> None:
    for index in range(4):
        emulator.add_domain(f"d-extra000000{index}", REGION)
    every = volumes(efs)
    assert len(every) == 5
    first = efs.describe_file_systems(MaxItems=2)
    assert [fs["FileSystemId"] for fs in first["FileSystems"]] == every[:2]
    pages = efs.get_paginator("describe_file_systems").paginate(PaginationConfig={"PageSize": 2})
    assert [fs["FileSystemId"] for page in pages for fs in page["FileSystems"]] == every
    arn = f"arn:aws:elasticfilesystem:{REGION}:123456789012:file-system/{every[0]}"
    assert [fs["FileSystemId"] for fs in efs.describe_file_systems(FileSystemId=arn)["FileSystems"]] == every[:1]
    with pytest.raises(efs.exceptions.FileSystemNotFound) as caught:
        efs.describe_file_systems(FileSystemId="fs-0123456789abcdef0")
    assert error_of(caught) == ("FileSystemNotFound", "File system 'fs-0123456789abcdef0' does not exist.")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_delete_domain_is_refused_while_it_holds_anything(sagemaker: Any, client: Any) -> None:
    cc.create_and_wait(client, cc.profile())
    cc.create_and_wait(client, cc.space("shared"), cc.SPACE_TYPE)
    sagemaker.create_app(**app_keys())
    with pytest.raises(sagemaker.exceptions.ResourceInUse) as caught:
        sagemaker.delete_domain(DomainId=DOMAIN, RetentionPolicy={"HomeEfsFileSystem": "Delete"})
    assert error_of(caught)[1] == (
        f"Unable to delete Domain [{DOMAIN_ARN}] because UserProfile(s), Space(s), App(s) are associated with it: "
        "UserProfile [alice]; Space [shared]; App [default (JupyterServer)]."
    )
    event = cc.delete_and_wait(client, DOMAIN, DOMAIN_TYPE)
    assert (event["ErrorCode"], event["StatusMessage"]) == ("ResourceConflict", error_of(caught)[1])
    assert sagemaker.describe_domain(DomainId=DOMAIN)["Status"] == "InService"


@pytest.mark.parametrize(("retention", "kept"), [(None, True), ("Retain", True), ("Delete", False)])
def test_delete_domain_keeps_or_deletes_the_home_volume(
    sagemaker: Any, efs: Any, retention: str | None, kept: bool
) -> None:
    volume = home_volume(sagemaker)
    policy = {} if retention is None else {"RetentionPolicy": {"HomeEfsFileSystem": retention}}
    assert_conforms(sagemaker, "DeleteDomain", sagemaker.delete_domain(DomainId=DOMAIN, **policy))
    assert sagemaker.describe_domain(DomainId=DOMAIN)["Status"] == "Deleting"
    assert volumes(efs) == [volume]  # until the domain is gone
    domain_gone(sagemaker)
    if kept:
        assert volumes(efs) == [volume]
    else:
        with pytest.raises(efs.exceptions.FileSystemNotFound):
            efs.describe_file_systems(FileSystemId=volume)


def test_delete_asked_again_while_deleting_takes_the_volume_too(sagemaker: Any, efs: Any) -> None:
    sagemaker.delete_domain(DomainId=DOMAIN)
    sagemaker.delete_domain(DomainId=DOMAIN, RetentionPolicy={"HomeEfsFileSystem": "Delete"})
    domain_gone(sagemaker)
    assert volumes(efs) == []


def test_cloud_control_delete_always_retains_the_volume(sagemaker: Any, client: Any, efs: Any) -> None:
    volume = home_volume(sagemaker)
    assert cc.delete_and_wait(client, DOMAIN, DOMAIN_TYPE)["OperationStatus"] == "SUCCESS"
    domain_gone(sagemaker)
    assert volumes(efs) == [volume]


def test_reset_clears_apps_and_volumes_of_deleted_domains(
    sagemaker: Any, client: Any, efs: Any, emulator: EmulatorProcess
) -> None:
    emulator.add_domain("d-retained0001", REGION)
    retained = home_volume(sagemaker, "d-retained0001")
    sagemaker.delete_domain(DomainId="d-retained0001")
    domain_gone(sagemaker, "d-retained0001")
    cc.create_and_wait(client, cc.profile())
    sagemaker.create_app(**app_keys())
    assert retained in volumes(efs)
    emulator.reset()  # domains are kept, and with them their volumes
    assert volumes(efs) == [home_volume(sagemaker)]
    assert sagemaker.list_apps()["Apps"] == []
    emulator.reset(keep_domains=False)
    assert volumes(efs) == []


def test_every_call_is_counted_under_its_operation(sagemaker: Any, efs: Any, emulator: EmulatorProcess) -> None:
    sagemaker.describe_domain(DomainId=DOMAIN)
    sagemaker.list_apps()
    sagemaker.list_apps(DomainIdEquals=DOMAIN)
    with pytest.raises(sagemaker.exceptions.ResourceNotFound):
        sagemaker.delete_app(**app_keys())
    efs.describe_file_systems()
    with pytest.raises(efs.exceptions.FileSystemNotFound):
        efs.describe_file_systems(FileSystemId="fs-0123456789abcdef0")
    stats = emulator.stats()
    assert stats["calls"] == {"DescribeDomain": 1, "ListApps": 2, "DeleteApp": 1, "DescribeFileSystems": 2}
    assert stats["errors"] == {"DeleteApp:ResourceNotFound": 1, "DescribeFileSystems:FileSystemNotFound": 1}
    assert stats["callsByAccessKey"] == {"testing": stats["calls"]}
