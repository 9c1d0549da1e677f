"""Fixtures for the emulator's conformance tests.

One emulator subprocess per session (latency 0.2 s, so asynchronous completion is real but quick),
reset before each test. Tests talk to it only through boto3's ``cloudcontrol``, ``sagemaker`` and
``efs`` clients — the clients the operator uses — so botocore's parsing of every answer is part of what
is checked. The clients never retry, so each call the test makes is exactly one call the emulator
counts. Apps deleted through SageMaker stay ``Deleting`` for 0.3 s (``APP_DELETE_LATENCY``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conformance.helpers import APP_DELETE_LATENCY, DOMAIN, LATENCY, REGION
from tests.support.emulator import EmulatorProcess


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorProcess]:
    with EmulatorProcess(latency=LATENCY, app_delete_latency=APP_DELETE_LATENCY) as emu:
        yield emu


@pytest.fixture(autouse=True)
def clean(emulator: EmulatorProcess) -> EmulatorProcess:
    emulator.reset(keep_domains=False)
    emulator.add_domain(DOMAIN, REGION)
    return emulator


@pytest.fixture
def client(emulator: EmulatorProcess) -> Any:
    return emulator.boto3_client(REGION, retries={"total_max_attempts": 1})


@pytest.fixture
def raw_client(emulator: EmulatorProcess) -> Any:
    """No client-side parameter validation: lets the emulator's own limits be seen."""
    return emulator.boto3_client(REGION, retries={"total_max_attempts": 1}, parameter_validation=False)


@pytest.fixture
def sagemaker(emulator: EmulatorProcess) -> Any:
    """SageMaker's own API (what the operator's offboarding calls), through boto3's ``sagemaker`` client."""
    return emulator.sagemaker_client(REGION, retries={"total_max_attempts": 1})


@pytest.fixture
def efs(emulator: EmulatorProcess) -> Any:
    """EFS's DescribeFileSystems (the domains' home volumes), through boto3's ``efs`` client."""
    return emulator.efs_client(REGION, retries={"total_max_attempts": 1})
