"""Embedded MQTT broker (amqtt) for one-command use on a single machine: ``edgesight broker``.

Production sites use Mosquitto/EMQX; this is the "works without installing anything" default. It keeps
sessions and retained messages in memory only (a restart forgets them) — see docs/uplink.md.
Also runnable as ``python -m edgesight.uplink.broker --port N``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from typing import Any

from edgesight.errors import EdgesightError

__all__ = ["broker_config", "run_broker"]


def broker_config(host: str = "127.0.0.1", port: int = 1883, allow_anonymous: bool = True) -> dict[str, Any]:
    """amqtt configuration for one plain TCP listener."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": allow_anonymous}},
    }


def run_broker(host: str = "127.0.0.1", port: int = 1883, ready: Any = None) -> None:
    """Serve until SIGINT/SIGTERM. ``ready`` (optional callable) is called once the listener is up."""
    try:
        from amqtt.broker import Broker
    except ImportError:
        raise EdgesightError("the embedded broker needs amqtt: pip install 'edgesight[broker]'") from None

    async def main() -> None:
        broker = Broker(broker_config(host, port))
        try:
            await broker.start()
        except Exception as exc:
            raise EdgesightError(f"embedded broker: cannot listen on {host}:{port} ({exc})") from None
        if ready is not None:
            ready()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await broker.shutdown()

    asyncio.run(main())


def _main() -> None:
    ap = argparse.ArgumentParser(description="Embedded MQTT broker (amqtt).")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=1883)
    a = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    run_broker(a.host, a.port, ready=lambda: print(f"listening on {a.host}:{a.port}", flush=True))


if __name__ == "__main__":
    _main()
