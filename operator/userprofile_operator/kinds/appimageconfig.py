"""SageMakerAppImageConfig: how Studio runs a custom image in an app: kernels, file system, container
settings (AWS::SageMaker::AppImageConfig).

Studio settings pair it with an image in `customImages[]` (`appImageConfigNameRef` beside `imageNameRef`).
"""

from __future__ import annotations

from userprofile_operator.kind import Column, Kind
from userprofile_operator.kinds._studio import tag_descriptions

KIND = Kind(
    type_name="AWS::SageMaker::AppImageConfig",
    kind="SageMakerAppImageConfig",
    plural="sagemakerappimageconfigs",
    short_names=("smaic",),
    noun="app image config",
    short_noun="config",
    arn_property="AppImageConfigArn",
    name_property="AppImageConfigName",
    columns=(Column("Config", ".spec.appImageConfigName"),),
    descriptions={
        "CustomImageContainerEnvironmentVariable": "An environment variable of the container.",
        ("CustomImageContainerEnvironmentVariable", "Key"): "The variable's name.",
        ("CustomImageContainerEnvironmentVariable", "Value"): "The variable's value.",
        **tag_descriptions("app image config"),
    },
)
