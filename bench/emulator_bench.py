"""How many Cloud Control calls per second the emulator answers on one core.

Starts ``python -m cloudcontrol_emulator`` pinned to CPU 0 (``taskset -c 0`` when available), seeds
profiles through the admin API, then drives it from this process (pinned to another CPU when there
is one) with an aiohttp client keeping ``--concurrency`` requests in flight. Requests are what
boto3 sends: ``POST /`` with ``X-Amz-Target``, the JSON 1.0 content type and an ``Authorization``
header whose SigV4 credential scope names the region (the emulator does not check signatures).

Prints a Markdown table and writes ``bench/results/emulator.json``.

    .venv/bin/python -m bench.emulator_bench [--seconds 5] [--concurrency 32] [--profiles 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
from tests.support.emulator import EmulatorProcess
from tests.support.kube import REPO_ROOT

TYPE_NAME = "AWS::SageMaker::UserProfile"
REGION = "us-east-1"
DOMAIN = "d-bench0000001"
AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20240101/us-east-1/cloudcontrolapi/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=" + "0" * 64
)


def headers(operation: str) -> dict[str, str]:
    return {
        "Content-Type": "application/x-amz-json-1.0",
        "X-Amz-Target": f"CloudApiService.{operation}",
        "X-Amz-Date": "20240101T000000Z",
        "Authorization": AUTH,
    }


async def drive(url: str, operation: str, bodies: list[bytes], seconds: float, concurrency: int) -> dict[str, Any]:
    """Keep ``concurrency`` calls in flight for ``seconds``; count answers by HTTP status."""
    counts = {"ok": 0, "error": 0}
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    head = headers(operation)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker(seed: int) -> None:
            rng = random.Random(seed)
            while time.perf_counter() < stop_at:
                body = bodies[rng.randrange(len(bodies))]
                started = time.perf_counter()
                async with session.post(url, data=body, headers=head) as response:
                    await response.read()
                    counts["ok" if response.status == 200 else "error"] += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker(i) for i in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    total = counts["ok"] + counts["error"]
    return {
        "operation": operation,
        "calls": total,
        "errors": counts["error"],  # HTTP status other than 200
        "seconds": round(elapsed, 3),
        "calls_per_second": round(total / elapsed, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 2) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2) if latencies else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--profiles", type=int, default=10000)
    parser.add_argument("--output", default=str(REPO_ROOT / "bench" / "results" / "emulator.json"))
    args = parser.parse_args()

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    emulator_cpu = cpus[0] if cpus else None
    if len(cpus) > 1 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(cpus[1:]))  # keep the client off the emulator's core

    with EmulatorProcess(latency=0.5, cpu=emulator_cpu) as emulator:
        emulator.add_domain(DOMAIN, REGION)
        seed_started = time.perf_counter()
        names = [f"user{i:05d}" for i in range(args.profiles)]
        for start in range(0, len(names), 2000):
            emulator.oob_create(
                REGION,
                [
                    {
                        "DomainId": DOMAIN,
                        "UserProfileName": name,
                        "UserSettings": {"ExecutionRole": "arn:aws:iam::123456789012:role/SageMakerExec"},
                        "Tags": [{"Key": "team", "Value": "bench"}],
                    }
                    for name in names[start : start + 2000]
                ],
            )
        seed_seconds = time.perf_counter() - seed_started

        get_bodies = [json.dumps({"TypeName": TYPE_NAME, "Identifier": f"{name}|{DOMAIN}"}).encode() for name in names]
        missing_bodies = [
            json.dumps({"TypeName": TYPE_NAME, "Identifier": f"ghost{i}|{DOMAIN}"}).encode() for i in range(100)
        ]
        list_bodies = [json.dumps({"TypeName": TYPE_NAME}).encode()]
        runs = [
            asyncio.run(drive(emulator.url, "GetResource", get_bodies, args.seconds, args.concurrency)),
            asyncio.run(drive(emulator.url, "GetResource", missing_bodies, args.seconds / 2, args.concurrency)),
            asyncio.run(drive(emulator.url, "ListResources", list_bodies, args.seconds / 2, args.concurrency)),
        ]
        runs[1]["operation"] = "GetResource (missing → ResourceNotFoundException)"
        stats = emulator.stats()

    result = {
        "benchmark": "cloudcontrol_emulator calls per second on one core",
        "emulator_cpu": emulator_cpu,
        "taskset": emulator_cpu is not None and shutil.which("taskset") is not None,
        "client": f"aiohttp, {args.concurrency} concurrent requests, same host",
        "profiles_seeded": args.profiles,
        "seed_seconds": round(seed_seconds, 2),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "runs": runs,
        "emulator_stats": stats,
        "target_get_resource_per_second": 1000,
        "target_met": runs[0]["calls_per_second"] >= 1000 and runs[0]["errors"] == 0,
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")

    print(f"Emulator pinned to CPU {emulator_cpu}; {args.profiles} profiles seeded in {seed_seconds:.1f} s\n")
    print("| operation | calls | errors | calls/s | p50 ms | p99 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for run in runs:
        print(
            f"| {run['operation']} | {run['calls']} | {run['errors']} | {run['calls_per_second']} "
            f"| {run['p50_ms']} | {run['p99_ms']} |"
        )
    print(f"\nTarget ≥ 1000 GetResource/s: {'met' if result['target_met'] else 'NOT met'}; wrote {output}")
    return 0 if result["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
