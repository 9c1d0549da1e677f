"""Command line: ``python -m cloudcontrol_emulator --host 127.0.0.1 --port 0 --account-id 123456789012``.

The first line printed on stdout is exactly ``listening on http://HOST:PORT`` (flushed), so a parent
process can read the chosen port. SIGTERM and SIGINT stop the server cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys

from aiohttp import web

from .app import build_app


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cloudcontrol_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--account-id", default="123456789012")
    parser.add_argument("--latency", type=float, default=0.5, help="seconds a Create/Update/Delete stays IN_PROGRESS")
    parser.add_argument(
        "--app-delete-latency",
        type=float,
        default=2.0,
        help="seconds an app deleted through SageMaker's DeleteApp stays Deleting",
    )
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


async def serve(args: argparse.Namespace) -> None:
    app = build_app(account_id=args.account_id, latency=args.latency, app_delete_latency=args.app_delete_latency)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, backlog=1024)
    await site.start()
    port = args.port
    sockets = getattr(site._server, "sockets", None) or []
    if sockets:
        port = sockets[0].getsockname()[1]
    sys.stdout.write(f"listening on http://{args.host}:{port}\n")
    sys.stdout.flush()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr)
    asyncio.run(serve(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
