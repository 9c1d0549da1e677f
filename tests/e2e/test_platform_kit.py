"""The platform kit end to end: lifecycle configs, images, image versions and app image configs, and a
domain that uses them by reference, in one apply and one delete; and `list` / `get` / `import --kind` of
the new kinds.

Against the real API server and the emulator. The emulator enforces SageMaker's rules for these types (a
version needs its image, a domain's settings must name configs and images that exist, nothing named by a
domain can be deleted while it is), so a setup that converges with no failed request was handled in
dependency order, and a delete that leaves AWS empty went in the reverse order.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import REGION
from tests.e2e.test_studio import aws
from tests.support.emulator import EmulatorProcess
from tests.support.kube import REPO_ROOT, Kube, everything, ready, wait_all_ready, wait_for
from tests.support.operator import OPERATOR, OperatorProcess

pytestmark = pytest.mark.e2e

PLATFORM = REPO_ROOT / "examples" / "platform.yaml"
TYPES = {
    "SageMakerStudioLifecycleConfig": "AWS::SageMaker::StudioLifecycleConfig",
    "SageMakerImage": "AWS::SageMaker::Image",
    "SageMakerImageVersion": "AWS::SageMaker::ImageVersion",
    "SageMakerAppImageConfig": "AWS::SageMaker::AppImageConfig",
    "SageMakerDomain": "AWS::SageMaker::Domain",
}
# The names AWS knows each object of the example by (made unique per test: the emulator is the session's).
NAMES = {
    "SageMakerStudioLifecycleConfig": "studioLifecycleConfigName",
    "SageMakerImage": "imageName",
    "SageMakerAppImageConfig": "appImageConfigName",
    "SageMakerDomain": "domainName",
}


def platform(suffix: str) -> tuple[str, dict[str, str]]:
    """examples/platform.yaml with AWS names of its own, and those names by kind."""
    docs = list(yaml.safe_load_all(PLATFORM.read_text()))
    names = {}
    for doc in docs:
        field = NAMES.get(doc["kind"])
        if field is not None:
            doc["spec"][field] = names[doc["kind"]] = f"{doc['spec'][field]}-{suffix}"[:63]
    return yaml.safe_dump_all(docs), names


def _gone(kube: Kube, namespace: str) -> bool:
    """True once the namespace holds none of our objects; else says what each one left waits for."""
    left = everything(kube, namespace)
    if left:
        raise AssertionError([(o["kind"], o["metadata"]["name"], kube.condition(o, "Ready")) for o in left])
    return True


def test_the_platform_example_converges_in_dependency_order_and_one_delete_leaves_aws_empty(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    suffix = uuid.uuid4().hex[:6]
    manifest, names = platform(suffix)
    kube.kubectl("apply", "-n", shared_namespace, "-f", "-", input=manifest)
    objects = wait_all_ready(kube, shared_namespace, 5, "every object of the platform Ready", timeout=150)
    by_kind = {o["kind"]: o for o in objects}
    assert set(by_kind) == set(TYPES)  # `kubectl get sagemaker` lists the new kinds too
    lcc_arn = by_kind["SageMakerStudioLifecycleConfig"]["status"]["arn"]
    version_arn = by_kind["SageMakerImageVersion"]["status"]["arn"]
    # named by its content: the name given, then a hash of the script (an edit makes a new one)
    assert re.search(rf":studio-lifecycle-config/{names['SageMakerStudioLifecycleConfig']}-[0-9a-f]{{10}}$", lcc_arn)
    assert version_arn.endswith(f":image-version/{names['SageMakerImage']}/1")  # AWS numbers the versions
    assert by_kind["SageMakerImageVersion"]["status"]["imageName"] == names["SageMakerImage"]

    # The domain in AWS holds the ARNs and names its references resolved to.
    domain_id = by_kind["SageMakerDomain"]["status"]["identifier"]
    (domain,) = [r for r in aws(emulator, TYPES["SageMakerDomain"]) if r["Identifier"] == domain_id]
    lab = domain["Properties"]["DefaultUserSettings"]["JupyterLabAppSettings"]
    assert lab["LifecycleConfigArns"] == [lcc_arn]
    assert lab["DefaultResourceSpec"]["LifecycleConfigArn"] == lcc_arn
    assert lab["DefaultResourceSpec"]["SageMakerImageVersionArn"] == version_arn
    custom = {"ImageName": names["SageMakerImage"], "AppImageConfigName": names["SageMakerAppImageConfig"]}
    assert lab["CustomImages"] == [custom]
    space_lab = domain["Properties"]["DefaultSpaceSettings"]["JupyterLabAppSettings"]
    assert (space_lab["LifecycleConfigArns"], space_lab["CustomImages"]) == ([lcc_arn], [custom])

    # In dependency order: nothing was sent before what it names was Ready, so no request failed.
    failed = [
        r
        for r in emulator.requests(REGION)
        if r["OperationStatus"] == "FAILED" and any(name in json.dumps(r) for name in names.values())
    ]
    assert failed == [], failed

    # Everything at once: the domain goes first, then what it used; the image after its version.
    started = time.monotonic()
    kube.kubectl("delete", "-n", shared_namespace, "-f", "-", "--wait=false", input=manifest)
    wait_for("every object gone", lambda: _gone(kube, shared_namespace), timeout=150)
    took = time.monotonic() - started
    assert everything(kube, shared_namespace) == []
    for kind, type_name in TYPES.items():
        left = [r for r in aws(emulator, type_name) if suffix in json.dumps(r["Properties"])]
        assert left == [], f"{kind} left in AWS: {left}"
    assert took < 60, f"deleting the platform took {took:.0f} s"
    refused = [
        r
        for r in emulator.requests(REGION)
        if r["Operation"] == "DELETE" and r["OperationStatus"] == "FAILED" and suffix in json.dumps(r)
    ]
    assert refused == [], "a delete was sent while something still named it"


def test_a_version_naming_a_missing_image_waits_then_follows_it(
    kube: Kube, emulator: EmulatorProcess, shared_namespace: str
) -> None:
    image_name = f"later-{uuid.uuid4().hex[:6]}"
    version = {
        "apiVersion": "sagemaker.awscc.dev/v1alpha1",
        "kind": "SageMakerImageVersion",
        "metadata": {"name": "v1"},
        "spec": {
            "imageNameRef": {"name": "later"},
            "baseImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/later:1",
        },
    }
    kube.kubectl("apply", "-n", shared_namespace, "-f", "-", input=json.dumps(version))
    waiting = wait_for(
        "ReferenceNotReady",
        lambda: (
            (c := kube.condition(kube.get_json("smimageversion", "v1", "-n", shared_namespace), "Ready") or {}).get(
                "reason"
            )
            == "ReferenceNotReady"
            and c
        ),
    )
    assert waiting["status"] == "False" and "SageMakerImage later" in waiting["message"], waiting
    assert not any(image_name in json.dumps(r) for r in emulator.requests(REGION))  # nothing went to AWS

    image = {
        "apiVersion": "sagemaker.awscc.dev/v1alpha1",
        "kind": "SageMakerImage",
        "metadata": {"name": "later"},
        "spec": {"imageName": image_name, "imageRoleArn": "arn:aws:iam::123456789012:role/SageMakerImageRole"},
    }
    kube.kubectl("apply", "-n", shared_namespace, "-f", "-", input=json.dumps(image))
    wait_for(
        "the version Ready", lambda: ready(kube, kube.get_json("smimageversion", "v1", "-n", shared_namespace)), 90
    )
    arn = kube.get_json("smimageversion", "v1", "-n", shared_namespace)["status"]["arn"]
    assert arn.endswith(f":image-version/{image_name}/1")
    assert [
        r["Identifier"] for r in aws(emulator, TYPES["SageMakerImageVersion"]) if image_name in r["Identifier"]
    ] == [arn]
    kube.kubectl("delete", "smimage,smimageversion", "--all", "-n", shared_namespace, "--timeout=90s", timeout=100)
    assert [r for r in aws(emulator, TYPES["SageMakerImage"]) if image_name in json.dumps(r)] == []


# -- the CLI: list / get / import --kind ----------------------------------------------------------------


def cli(emulator: EmulatorProcess, kube: Kube, *args: str) -> subprocess.CompletedProcess[str]:
    inherited = {k: v for k, v in os.environ.items() if k not in ("AWS_REGION", "AWS_DEFAULT_REGION")}
    environment = {**inherited, **emulator.env(), "KUBECONFIG": str(kube.kubeconfig)}
    return subprocess.run([OPERATOR, *args], capture_output=True, text=True, env=environment, timeout=120)


def test_list_get_and_import_know_the_platform_kinds(crd: Kube, tmp_path: Any) -> None:
    """With an emulator of its own: what the console made (unmanaged) is listed, shown and imported, and the
    operator adopts what import wrote without creating anything."""
    kube = crd
    cluster = f"kit-{uuid.uuid4().hex[:6]}"
    with EmulatorProcess(latency=0.1) as emu:
        script = {
            "StudioLifecycleConfigName": "idle-shutdown",
            "StudioLifecycleConfigAppType": "JupyterLab",
            "StudioLifecycleConfigContent": "IyEvYmluL2Jhc2gKZWNobyBpZGxlCg==",
        }
        made = [
            ("AWS::SageMaker::StudioLifecycleConfig", script),
            ("AWS::SageMaker::Image", {"ImageName": "team", "ImageRoleArn": "arn:aws:iam::123456789012:role/img"}),
            (
                "AWS::SageMaker::ImageVersion",
                {"ImageName": "team", "BaseImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/team:1"},
            ),
            (
                "AWS::SageMaker::ImageVersion",
                {"ImageName": "team", "BaseImage": "123456789012.dkr.ecr.us-east-1.amazonaws.com/team:2"},
            ),
            ("AWS::SageMaker::AppImageConfig", {"AppImageConfigName": "team-lab", "JupyterLabAppImageConfig": {}}),
        ]
        for type_name, state in made:
            emu.admin(
                "POST", "/_emulator/resources/create", {"Region": REGION, "TypeName": type_name, "DesiredState": state}
            )
        common = ["--region", REGION, "--cluster-name", cluster]

        listed = cli(emu, kube, "list", "--kind", "smlcc", *common, "-o", "json")
        assert listed.returncode == 0, listed.stderr
        (row,) = json.loads(listed.stdout)
        assert (row["studioLifecycleConfigName"], row["ownership"]) == ("idle-shutdown", "unmanaged")
        versions = cli(emu, kube, "list", "--kind", "smimageversion", *common, "-o", "json")
        assert versions.returncode == 0, versions.stderr
        arns = sorted(v["identifier"] for v in json.loads(versions.stdout))  # listed image by image
        assert [a.rsplit("/", 2)[1:] for a in arns] == [["team", "1"], ["team", "2"]]
        table = cli(emu, kube, "list", "--kind", "SageMakerAppImageConfig", *common)
        assert table.returncode == 0 and "team-lab" in table.stdout, table.stderr

        images = cli(emu, kube, "list", "--kind", "smimage", *common, "-o", "json")
        assert images.returncode == 0, images.stderr
        ((image_arn, image_name),) = [(i["identifier"], i["imageName"]) for i in json.loads(images.stdout)]
        assert image_arn.endswith(":image/team") and image_name == "team"
        got = cli(emu, kube, "get", "--kind", "smimage", image_arn, *common[:2], "-o", "json")
        assert got.returncode == 0, got.stderr
        assert json.loads(got.stdout)["imageName"] == "team"
        by_name = cli(emu, kube, "get", "--kind", "smlcc", "idle-shutdown", *common[:2], "-o", "json")
        assert by_name.returncode == 0, by_name.stderr
        assert json.loads(by_name.stdout)["studioLifecycleConfigAppType"] == "JupyterLab"

        namespace = f"kit-import-{uuid.uuid4().hex[:6]}"
        kube.create_namespace(namespace)
        written: list[dict[str, Any]] = []
        for kind in ("smlcc", "smimage", "smaic"):
            done = cli(emu, kube, "import", "--kind", kind, *common, "--namespace", namespace)
            assert done.returncode == 0, done.stderr
            written += list(yaml.safe_load_all(done.stdout))
        assert sorted(m["kind"] for m in written) == [
            "SageMakerAppImageConfig",
            "SageMakerImage",
            "SageMakerStudioLifecycleConfig",
        ]
        assert all(m["spec"]["adoptionPolicy"] == "Adopt" for m in written)
        kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(written))
        before = dict(emu.stats()["calls"])
        with OperatorProcess(kube.kubeconfig, emu.env(), args=["--cluster-name", cluster], namespaces=[namespace]):
            kube.kubectl(
                "wait", "--for=condition=Ready", "sagemaker", "--all", "-n", namespace, "--timeout=90s", timeout=100
            )
            calls = dict(emu.stats()["calls"])
            # The image and app image config are adopted as they are. A lifecycle config is named by its
            # content: the imported one is copied once under that name and let go, never deleted.
            assert calls.get("CreateResource", 0) == before.get("CreateResource", 0) + 1
            after = json.loads(cli(emu, kube, "list", "--kind", "smlcc", *common, "-o", "json").stdout)
            ownership = {row["studioLifecycleConfigName"]: row["object"] for row in after}
            (copy,) = [name for name in ownership if name != "idle-shutdown"]
            assert re.fullmatch(r"idle-shutdown-[0-9a-f]{10}", copy), copy
            assert (ownership[copy] or "").startswith(f"{namespace}/")
            assert not ownership["idle-shutdown"], "the imported original is let go"
            # Retain: the objects go, AWS keeps what it had before the import.
            for m in written:
                kube.kubectl(
                    "patch",
                    m["kind"].lower(),
                    m["metadata"]["name"],
                    "-n",
                    namespace,
                    "--type",
                    "merge",
                    "-p",
                    '{"spec":{"deletionPolicy":"Retain"}}',
                )
            kube.kubectl("delete", "sagemaker", "--all", "-n", namespace, "--timeout=60s", timeout=70)
