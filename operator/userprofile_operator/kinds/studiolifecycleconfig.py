"""SageMakerStudioLifecycleConfig: a script Studio runs when an app starts, such as an idle shutdown
(AWS::SageMaker::StudioLifecycleConfig).

The schema has no update handler: every property, tags included, is createOnly. The script is what people
edit in git, so the kind is content-addressed (`replace_on_change`): its AWS name is the object's name (or
spec.studioLifecycleConfigName) plus a hash of the content, an edit creates a new config, the objects that
name it follow, and the old one is deleted once unused (`rollout.py`). Domains, profiles and spaces name a
config by its ARN (`lifecycleConfigArnRef`, `lifecycleConfigArnsRefs`), which AWS makes and status.arn carries.
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
    replace_on_change=True,
    columns=(
        Column("Config", ".status.studioLifecycleConfigName"),
        Column("App", ".spec.studioLifecycleConfigAppType"),
    ),
    descriptions={
        ("", "StudioLifecycleConfigName"): (
            "The prefix of the configuration's name in AWS (default: the object's name): the operator adds a "
            "hash of the content, so an edit is a new configuration. status.studioLifecycleConfigName is the "
            "name in use."
        ),
        ("", "StudioLifecycleConfigContent"): (
            "The script, base64-encoded (at most 16384 characters encoded). AWS cannot change a configuration: "
            "an edit creates a new one, the objects that name this one by reference move to it, and the old "
            "one is deleted once nothing uses it."
        ),
        ("", "Tags"): "Tags of the lifecycle configuration. AWS sets them at creation only: an edit is a new one.",
        **tag_descriptions("lifecycle configuration"),
    },
)
