"""HTTP: the aiohttp application serving three AWS APIs on one port, and the admin API.

``POST /`` is Cloud Control (``X-Amz-Target: CloudApiService.*``, JSON 1.0) or SageMaker
(``X-Amz-Target: SageMaker.*``, JSON 1.1); ``GET /2015-02-01/file-systems`` is EFS's
DescribeFileSystems. Routing, the region from the SigV4 credential scope, call statistics and fault
decisions (Cloud Control only) live here; parsing members and shaping responses is :mod:`.protocol`,
:mod:`.sagemaker_api` and :mod:`.efs`; behaviour is :mod:`.backend` and :mod:`.studio`.
Admin endpoints (all JSON, under ``/_emulator/``) are documented in this package's README.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from aiohttp import web

import cfn_registry
from cfn_registry.validation import model_validator

from . import efs, errors, protocol, sagemaker_api
from .backend import Backend, Settings
from .faults import Faults
from .rules import DOMAIN, USER_PROFILE
from .studio import APP_OWNERS, Studio

_CREDENTIAL = re.compile(r"Credential=[^/,\s]+/\d{8}/([^/,\s]+)/[^/,\s]+/aws4_request")
_ACCESS_KEY = re.compile(r"Credential=([^/,\s]+)/")


@dataclass
class EmulatorState:
    """Everything the handlers share besides the backend."""

    backend: Backend
    studio: Studio
    faults: Faults
    initial_settings: Settings
    calls: Counter[str] = field(default_factory=Counter)
    throttled: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    # Calls per access key id and operation ("AKID:Operation"), as CloudTrail tells callers apart.
    callers: Counter[str] = field(default_factory=Counter)


BACKEND_KEY = web.AppKey("backend", Backend)
STATE_KEY = web.AppKey("state", EmulatorState)


def region_of(authorization: str | None) -> str:
    match = _CREDENTIAL.search(authorization or "")
    if match is None:
        raise errors.MissingAuthenticationTokenException(
            "Missing Authentication Token (the region is read from the SigV4 credential scope)"
        )
    return match.group(1)


def access_key_of(authorization: str | None) -> str:
    """The access key id of a SigV4 `Credential=AKID/date/region/service/aws4_request`, or "-"."""
    match = _ACCESS_KEY.search(authorization or "")
    return match.group(1) if match else "-"


@dataclass(frozen=True)
class Wire:
    """How one AWS API answers: its content type, and how it words an error."""

    content_type: str
    error_body: Callable[[errors.ServiceError], bytes]
    error_type_header: bool = False
    """rest-json services also name the error in ``x-amzn-ErrorType``."""


CLOUDCONTROL_WIRE: Final = Wire(protocol.CONTENT_TYPE, protocol.error_body)
SAGEMAKER_WIRE: Final = Wire(sagemaker_api.CONTENT_TYPE, sagemaker_api.error_body)
EFS_WIRE: Final = Wire(efs.CONTENT_TYPE, efs.error_body, error_type_header=True)

# Runs one call: (state, operation, region, request) -> the response body.
Operation = Callable[[EmulatorState, str, str, web.Request], Awaitable[bytes]]


def _aws_response(body: bytes, status: int, wire: Wire, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        body=body,
        status=status,
        content_type=wire.content_type,
        headers={"x-amzn-RequestId": str(uuid.uuid4()), **(headers or {})},
    )


async def _serve(request: web.Request, wire: Wire, operation_of: Callable[[], str], run: Operation) -> web.Response:
    """One AWS call: counted under its operation (and caller), its region from the credential scope;
    a ServiceError is answered in the API's own format and counted too."""
    state = request.app[STATE_KEY]
    operation: str | None = None
    try:
        operation = operation_of()
        state.calls[operation] += 1
        authorization = request.headers.get("Authorization")
        state.callers[f"{access_key_of(authorization)}:{operation}"] += 1
        return _aws_response(await run(state, operation, region_of(authorization), request), 200, wire)
    except errors.ServiceError as error:
        if operation is not None:
            state.errors[f"{operation}:{error.name}"] += 1
        headers = {"x-amzn-ErrorType": error.name} if wire.error_type_header else None
        return _aws_response(wire.error_body(error), error.status, wire, headers)


async def _cloudcontrol(state: EmulatorState, operation: str, region: str, request: web.Request) -> bytes:
    body = protocol.parse_body(await request.read())
    decision = state.faults.decide(operation, region)
    if decision.delay:
        await asyncio.sleep(decision.delay)
    if decision.throttle is not None:
        state.throttled[operation] += 1
        raise errors.ThrottlingException(decision.throttle)
    if decision.error is not None:
        raise decision.error
    return protocol.dispatch(state.backend, operation, region, body, decision.async_error_code)


async def _sagemaker(state: EmulatorState, operation: str, region: str, request: web.Request) -> bytes:
    return sagemaker_api.dispatch(state.studio, operation, region, protocol.parse_body(await request.read()))


async def _efs(state: EmulatorState, operation: str, region: str, request: web.Request) -> bytes:
    return efs.describe_file_systems(state.studio, region, request.query)


async def aws_json(request: web.Request) -> web.Response:
    """``POST /``: SageMaker or Cloud Control, told apart by the prefix of ``X-Amz-Target``."""
    target = request.headers.get("X-Amz-Target")
    if (target or "").startswith(sagemaker_api.TARGET_PREFIX):
        return await _serve(request, SAGEMAKER_WIRE, lambda: sagemaker_api.operation_of(target), _sagemaker)
    return await _serve(request, CLOUDCONTROL_WIRE, lambda: protocol.operation_of(target), _cloudcontrol)


async def efs_file_systems(request: web.Request) -> web.Response:
    """``GET /2015-02-01/file-systems``: EFS's DescribeFileSystems."""
    return await _serve(request, EFS_WIRE, lambda: efs.OPERATION, _efs)


# ------------------------------------------------------------------------------------------ admin

AdminHandler = Callable[[web.Request], Awaitable[web.Response]]


class AdminError(Exception):
    """A bad admin request: answered 400 with ``{"error": ...}``."""


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def admin(handler: Callable[[web.Request, EmulatorState], Awaitable[Any]]) -> AdminHandler:
    async def wrapped(request: web.Request) -> web.Response:
        try:
            return _json(await handler(request, request.app[STATE_KEY]))
        except (AdminError, ValueError) as problem:  # FaultConfigError is a ValueError
            return _json({"error": str(problem)}, 400)
        except errors.ServiceError as error:
            return _json({"error": error.message, "__type": error.name}, 404 if "NotFound" in error.name else 400)

    return wrapped


async def _body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise AdminError("body is not valid JSON") from None


async def _object(request: web.Request) -> dict[str, Any]:
    body = await _body(request)
    if not isinstance(body, dict):
        raise AdminError("expected a JSON object")
    return body


def _str(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise AdminError(f"{key} (a non-empty string) is required")
    return value


@admin
async def add_domain(request: web.Request, state: EmulatorState) -> Any:
    body = await _object(request)
    domain_id, region = _str(body, "DomainId"), _str(body, "Region")
    state.backend.add_domain(region, domain_id)
    return {"DomainId": domain_id, "Region": region}


@admin
async def list_domains(request: web.Request, state: EmulatorState) -> Any:
    domains: list[dict[str, str]] = []
    for region, world in sorted(state.backend.worlds.items()):
        world.settle()
        domains.extend({"DomainId": domain, "Region": region} for domain in world.sorted_identifiers(DOMAIN))
    return {"Domains": domains}


@admin
async def stats(request: web.Request, state: EmulatorState) -> Any:
    by_key: dict[str, dict[str, int]] = {}
    for key, count in state.callers.items():
        akid, _, operation = key.rpartition(":")
        by_key.setdefault(akid, {})[operation] = count
    return {
        "calls": dict(state.calls),
        "throttled": dict(state.throttled),
        "errors": dict(state.errors),
        "callsByAccessKey": by_key,
    }


@admin
async def reset(request: web.Request, state: EmulatorState) -> Any:
    body = await _object(request)
    keep_domains = body.get("KeepDomains", True)
    if not isinstance(keep_domains, bool):
        raise AdminError("KeepDomains must be a boolean")
    state.backend.reset(keep_domains=keep_domains)
    state.backend.settings = state.initial_settings.copy()
    state.calls.clear()
    state.throttled.clear()
    state.errors.clear()
    state.callers.clear()
    state.faults.clear()
    return {"reset": True, "KeepDomains": keep_domains}


def _settings_dump(settings: Settings) -> dict[str, Any]:
    return {
        "Latency": settings.latency,
        "FillDefaults": settings.fill_defaults,
        "Defaults": settings.defaults.get(USER_PROFILE, {}),
        "ListFullProperties": settings.list_full_properties,
        "CreateEventIdentifier": settings.create_event_identifier,
        "AppDeleteLatency": settings.app_delete_latency,
    }


def _seconds(body: dict[str, Any], key: str) -> float:
    value = body[key]
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        raise AdminError(f"{key} must be a non-negative number of seconds")
    return float(value)


@admin
async def get_config(request: web.Request, state: EmulatorState) -> Any:
    return _settings_dump(state.backend.settings)


@admin
async def set_config(request: web.Request, state: EmulatorState) -> Any:
    body = await _object(request)
    settings = state.backend.settings
    unknown = set(body) - {
        "Latency",
        "FillDefaults",
        "Defaults",
        "ListFullProperties",
        "CreateEventIdentifier",
        "AppDeleteLatency",
    }
    if unknown:
        raise AdminError(f"unknown keys {sorted(unknown)}")
    if "Latency" in body:
        settings.latency = _seconds(body, "Latency")
    if "AppDeleteLatency" in body:
        settings.app_delete_latency = _seconds(body, "AppDeleteLatency")
    for key, attr in (
        ("FillDefaults", "fill_defaults"),
        ("ListFullProperties", "list_full_properties"),
        ("CreateEventIdentifier", "create_event_identifier"),
    ):
        if key in body:
            if not isinstance(body[key], bool):
                raise AdminError(f"{key} must be a boolean")
            setattr(settings, attr, body[key])
    if "Defaults" in body:
        defaults = body["Defaults"]
        if not isinstance(defaults, dict) or not all(isinstance(k, str) and k.startswith("/") for k in defaults):
            raise AdminError('Defaults must map JSON pointers ("/UserSettings/X") to values')
        settings.defaults[USER_PROFILE] = dict(defaults)
    return _settings_dump(settings)


@admin
async def set_faults(request: web.Request, state: EmulatorState) -> Any:
    state.faults.configure(await _object(request), frozenset(protocol.HANDLERS))
    return state.faults.dump()


@admin
async def get_faults(request: web.Request, state: EmulatorState) -> Any:
    return state.faults.dump()


@admin
async def clear_faults(request: web.Request, state: EmulatorState) -> Any:
    state.faults.clear()
    return state.faults.dump()


def _type_name(body: dict[str, Any]) -> str:
    value = body.get("TypeName", USER_PROFILE)
    if not isinstance(value, str):
        raise AdminError("TypeName must be a string")
    return value


@admin
async def oob_create(request: web.Request, state: EmulatorState) -> Any:
    body = await _body(request)
    items = body if isinstance(body, list) else [body]
    created = []
    for item in items:
        if not isinstance(item, dict):
            raise AdminError("expected an object or a list of objects")
        desired = item.get("DesiredState")
        if isinstance(desired, str):
            desired = json.loads(desired)
        if not isinstance(desired, dict):
            raise AdminError("DesiredState (an object) is required")
        resource = state.backend.oob_create(_str(item, "Region"), desired, _type_name(item))
        created.append(resource.identifier)
    return {"Identifiers": created} if isinstance(body, list) else {"Identifier": created[0]}


@admin
async def oob_patch(request: web.Request, state: EmulatorState) -> Any:
    body = await _object(request)
    patch = body.get("PatchDocument")
    if isinstance(patch, str):
        patch = json.loads(patch)
    if not isinstance(patch, list):
        raise AdminError("PatchDocument (a JSON Patch list) is required")
    resource = state.backend.oob_patch(
        _str(body, "Region"),
        _str(body, "Identifier"),
        state.backend.parse_patch(json.dumps(patch)),
        _type_name(body),
    )
    return {"Identifier": resource.identifier, "Properties": resource.model}


@admin
async def oob_delete(request: web.Request, state: EmulatorState) -> Any:
    body = await _object(request)
    state.backend.oob_delete(_str(body, "Region"), _str(body, "Identifier"), _type_name(body))
    return {"Identifier": body["Identifier"], "deleted": True}


@admin
async def dump_resources(request: web.Request, state: EmulatorState) -> Any:
    region = request.query.get("Region")
    type_name = request.query.get("TypeName", USER_PROFILE)
    regions = [region] if region else sorted(state.backend.worlds)
    found = []
    for name in regions:
        world = state.backend.world(name)
        world.settle()
        for identifier in world.sorted_identifiers(type_name):
            resource = world.resources[(type_name, identifier)]
            found.append({"Region": name, "Identifier": identifier, "Properties": resource.model})
    return {"Resources": found}


@admin
async def dump_requests(request: web.Request, state: EmulatorState) -> Any:
    region = request.query.get("Region")
    regions = [region] if region else sorted(state.backend.worlds)
    found = []
    for name in regions:
        world = state.backend.world(name)
        world.settle()
        for item in world.request_log:
            event = protocol.progress_event(item, True)
            event["Region"] = name
            # What was asked for, writeOnly values included: the admin view of the request's input.
            if item.desired is not None:
                event["DesiredState"] = item.desired
            if item.patch is not None:
                event["PatchDocument"] = item.patch
            found.append(event)
    return {"Requests": found}


@admin
async def set_app_status(request: web.Request, state: EmulatorState) -> Any:
    """Make an app Failed (it then blocks nothing) or InService at once."""
    body = await _object(request)
    owners = [name for name in APP_OWNERS if name in body]
    if len(owners) != 1:
        raise AdminError("exactly one of UserProfileName and SpaceName is required")
    model = {name: _str(body, name) for name in ("DomainId", owners[0], "AppType", "AppName")}
    reason = body.get("FailureReason")
    if reason is not None and not isinstance(reason, str):
        raise AdminError("FailureReason must be a string")
    status = _str(body, "Status")
    arn = state.studio.set_app_status(_str(body, "Region"), APP_OWNERS[owners[0]], model, status, reason)
    return {"AppArn": arn, "Status": status}


def served_schemas() -> dict[str, cfn_registry.ResourceSchema]:
    """Every type ``cfn_registry`` vendors a schema for, each checked (and its validator built) now."""
    schemas = {name: cfn_registry.load(name) for name in cfn_registry.type_names()}
    for schema in schemas.values():
        model_validator(schema)
    return schemas


def build_app(
    account_id: str = "123456789012",
    latency: float = 0.5,
    backend: Backend | None = None,
    app_delete_latency: float = 2.0,
) -> web.Application:
    """The whole emulator as an aiohttp application (also usable in-process in tests)."""
    if backend is None:
        settings = Settings(latency=latency, app_delete_latency=app_delete_latency)
        backend = Backend(account_id, served_schemas(), settings)
    initial = backend.settings.copy()
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app[STATE_KEY] = EmulatorState(backend=backend, studio=Studio(backend), faults=Faults(), initial_settings=initial)
    app[BACKEND_KEY] = backend
    app.router.add_post("/", aws_json)
    app.router.add_get(efs.PATH, efs_file_systems)
    app.router.add_post("/_emulator/apps/status", set_app_status)
    app.router.add_post("/_emulator/domains", add_domain)
    app.router.add_get("/_emulator/domains", list_domains)
    app.router.add_get("/_emulator/stats", stats)
    app.router.add_post("/_emulator/reset", reset)
    app.router.add_get("/_emulator/config", get_config)
    app.router.add_post("/_emulator/config", set_config)
    app.router.add_get("/_emulator/faults", get_faults)
    app.router.add_post("/_emulator/faults", set_faults)
    app.router.add_delete("/_emulator/faults", clear_faults)
    app.router.add_post("/_emulator/resources/create", oob_create)
    app.router.add_post("/_emulator/resources/patch", oob_patch)
    app.router.add_post("/_emulator/resources/delete", oob_delete)
    app.router.add_get("/_emulator/resources", dump_resources)
    app.router.add_get("/_emulator/requests", dump_requests)
    return app
