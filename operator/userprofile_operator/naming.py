"""CloudFormation PascalCase <-> Kubernetes camelCase, one deterministic rule, exact both ways.

The forward rule (`camel_case`): lowercase the leading run of capitals and digits; when that run
is longer than one character and a lowercase letter follows it, the run's last capital starts the
next word and stays upper case. So

    AutoMountHomeEFS           -> autoMountHomeEFS
    EFSFileSystemConfig        -> efsFileSystemConfig
    S3KmsKeyId                 -> s3KmsKeyId
    FSxLustreFileSystemConfig  -> fSxLustreFileSystemConfig
    RStudioServerProAppSettings -> rStudioServerProAppSettings

The reverse is ambiguous in general (`efs...` could have come from `Efs...` or `EFS...`), so it is
not computed: it is the inverse of the forward map over every property name of a kind's schema, and
building it asserts that the map is a bijection. Names are mapped one by one; every path therefore
round-trips because every name on it does.

This module owns names only. It never drops, adds or checks values.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

__all__ = ["Naming", "NamingError", "camel_case"]

_LEADING_RUN: Final = re.compile(r"^[A-Z0-9]+")


class NamingError(ValueError):
    """A camelCase name that is not the image of any CloudFormation property name."""


def camel_case(pascal: str) -> str:
    """The forward rule on one name (see the module docstring)."""
    match = _LEADING_RUN.match(pascal)
    if match is None:
        return pascal
    run = match.group(0)
    rest = pascal[len(run) :]
    if len(run) > 1 and rest[:1].islower() and run[-1].isalpha():
        return run[:-1].lower() + run[-1] + rest
    return run.lower() + rest


class Naming:
    """The names of one schema's properties both ways; building it checks the map is a bijection."""

    def __init__(self, property_names: Iterable[str]) -> None:
        forward = {name: camel_case(name) for name in sorted(property_names)}
        inverse: dict[str, str] = {}
        for pascal, camel in forward.items():
            if camel in inverse:
                raise AssertionError(f"naming rule is not injective: {inverse[camel]} and {pascal} -> {camel}")
            inverse[camel] = pascal
        self._forward: Mapping[str, str] = forward
        self._inverse: Mapping[str, str] = inverse

    @property
    def name_map(self) -> Mapping[str, str]:
        """PascalCase -> camelCase for every property name of the schema."""
        return self._forward

    def spec_name(self, pascal: str) -> str:
        """The camelCase name of a CloudFormation property name.

        Names the vendored schema does not know (a property AWS added later) still get the rule.
        """
        return self._forward.get(pascal) or camel_case(pascal)

    def cfn_name(self, camel: str) -> str:
        """The CloudFormation name of a camelCase name; only names of schema properties have one."""
        try:
            return self._inverse[camel]
        except KeyError:
            raise NamingError(f"no CloudFormation property is named like {camel!r}") from None

    def spec_path(self, path: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(self.spec_name(name) for name in path)

    def cfn_path(self, path: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(self.cfn_name(name) for name in path)

    def spec_to_cfn(self, obj: Any) -> Any:
        """A copy of a camelCase document (dicts, lists, scalars) with CloudFormation names as keys."""
        if isinstance(obj, Mapping):
            return {self.cfn_name(str(key)): self.spec_to_cfn(value) for key, value in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.spec_to_cfn(item) for item in obj]
        return obj

    def cfn_to_spec(self, obj: Any) -> Any:
        """A copy of a CloudFormation document (dicts, lists, scalars) with camelCase names as keys."""
        if isinstance(obj, Mapping):
            return {self.spec_name(str(key)): self.cfn_to_spec(value) for key, value in obj.items()}
        if isinstance(obj, list | tuple):
            return [self.cfn_to_spec(item) for item in obj]
        return obj
