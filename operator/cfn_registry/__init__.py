"""CloudFormation registry schemas, vendored, and what both the operator and the emulator derive from them.

This package sits below `userprofile_operator` and `cloudcontrol_emulator`, which never import each
other: paths and identifiers (`schema`), regular expression dialects (`patterns`), validation
(`validation`). One copy of each schema lives in `schemas/`.
"""

from cfn_registry.schema import PropertyPath, ResourceSchema, load, type_names

__all__ = ["PropertyPath", "ResourceSchema", "load", "type_names"]
