"""SageMakerImage: a custom SageMaker image, the name its versions and Studio settings share
(AWS::SageMaker::Image).

AWS makes the identifier (the ImageArn): the core learns it from the create request and finds an existing
image by its ImageName (adoption). Its versions are SageMakerImageVersion objects; Studio settings name
the image by its name (`customImages[].imageNameRef`) or its ARN (`sageMakerImageArnRef`).
"""

from __future__ import annotations

from userprofile_operator.kind import Column, Kind
from userprofile_operator.kinds._studio import tag_descriptions

KIND = Kind(
    type_name="AWS::SageMaker::Image",
    kind="SageMakerImage",
    plural="sagemakerimages",
    short_names=("smimage",),
    noun="image",
    short_noun="image",
    arn_property="ImageArn",
    name_property="ImageName",
    execution_role=("ImageRoleArn",),
    columns=(Column("Image", ".spec.imageName"), Column("Display", ".spec.imageDisplayName", priority=1)),
    descriptions={
        **tag_descriptions("image"),
    },
)
