"""SageMakerImageVersion: one version of a custom SageMaker image, a container image in ECR
(AWS::SageMaker::ImageVersion).

AWS makes the identifier (the ImageVersionArn) and numbers the version (`Version`, readOnly): the core
learns both from the create request; status.arn names the version. `BaseImage` and `ImageName` are
createOnly: a new container image is a new SageMakerImageVersion object. The type has no tags, so the
operator cannot mark the version as its own in AWS: what it created is its own by the identifier its
create request returned, and adoption finds an image's versions by the image's name.
"""

from __future__ import annotations

from userprofile_operator.kind import Column, Kind
from userprofile_operator.references import Reference

KIND = Kind(
    type_name="AWS::SageMaker::ImageVersion",
    kind="SageMakerImageVersion",
    plural="sagemakerimageversions",
    short_names=("smimageversion",),
    noun="image version",
    short_noun="version",
    arn_property="ImageVersionArn",
    name_property="ImageName",
    references=(Reference(("ImageName",), "SageMakerImage", "imageName"),),
    listed_within=("SageMakerImage", "ImageName"),  # Cloud Control lists versions of one image at a time
    columns=(
        Column("Image", ".status.imageName"),
        Column("BaseImage", ".spec.baseImage", priority=1),
    ),
)
