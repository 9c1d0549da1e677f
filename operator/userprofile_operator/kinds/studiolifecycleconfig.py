"""SageMakerStudioLifecycleConfig: a script Studio runs when an app starts, such as an idle shutdown
(AWS::SageMaker::StudioLifecycleConfig).

The schema has no update handler: every property, tags included, is createOnly, so the CRD makes them
all immutable and the core never sends an update. Domains, profiles and spaces name a config by its ARN
(`lifecycleConfigArnRef`, `lifecycleConfigArnsRefs`), which AWS makes and status.arn carries.
"""

from __future__ import annotations

from userprofile_operator.kind import Column, Kind
from userprofile_operator.kinds._studio import tag_descriptions

KIND = Kind(
    type_name="AWS::SageMaker::StudioLifecycleConfig",
    kind="SageMakerStudioLifecycleConfig",
    plural="sagemakerstudiolifecycleconfigs",
    short_names=("smlcc",),
    noun="Studio lifecycle configuration",
    short_noun="config",
    arn_property="StudioLifecycleConfigArn",
    name_property="StudioLifecycleConfigName",
    columns=(
        Column("Config", ".spec.studioLifecycleConfigName"),
        Column("App", ".spec.studioLifecycleConfigAppType"),
    ),
    descriptions={
        ("", "StudioLifecycleConfigContent"): (
            "The script, base64-encoded (at most 16384 characters encoded). Immutable: AWS cannot change a "
            "lifecycle configuration's script."
        ),
        ("", "Tags"): "Tags of the lifecycle configuration. Immutable: AWS sets them at creation only.",
        **tag_descriptions("lifecycle configuration"),
    },
)
