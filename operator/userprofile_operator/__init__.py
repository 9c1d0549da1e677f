"""Kubernetes operator for Amazon SageMaker Studio user profiles, through the AWS Cloud Control API."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sagemaker-userprofile-operator")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"
