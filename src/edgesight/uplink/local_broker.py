"""A private MQTT broker process on an ephemeral port, for tests, benches and fault drills.

Uses the machine's ``mosquitto`` binary when present (with on-disk persistence, so QoS 1 messages queued
for a persistent subscriber survive a broker restart), else the embedded amqtt broker. It never touches
a broker it did not start (the shared service on 1883 is left alone).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgesight.errors import EdgesightError

__all__ = ["LocalBroker", "free_port"]


def free_port() -> int:
    """An unused TCP port on 127.0.0.1 (ephemeral range)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class LocalBroker:
    """Start/stop/restart one broker on a fixed ephemeral port.

    Args:
        kind: "mosquitto", "amqtt" or "auto" (mosquitto if its binary is found).
        workdir: folder for the config, persistence file and log (a temp folder by default).
        extra_config: lines appended to the mosquitto config (e.g. ``message_size_limit 1000``).
    """

    def __init__(self, kind: str = "auto", workdir: str | Path | None = None, extra_config: str = "") -> None:
        exe = shutil.which("mosquitto") or (
            "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
        )
        if kind == "auto":
            kind = "mosquitto" if exe and os.environ.get("EDGESIGHT_TEST_BROKER", "") != "amqtt" else "amqtt"
        if kind == "mosquitto" and not exe:
            raise EdgesightError(
                "mosquitto binary not found (apt-get install mosquitto), or use kind='amqtt'"
            )
        self.kind = kind
        self._exe = exe
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="edgesight-broker-")
        self.workdir = Path(workdir) if workdir else Path(self._tmp.name)  # type: ignore[union-attr]
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.extra_config = extra_config
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 15.0) -> LocalBroker:
        if self.running:
            return self
        log = open(self.workdir / "broker.log", "ab")  # noqa: SIM115 - handed to the child
        if self.kind == "mosquitto":
            conf = self.workdir / "mosquitto.conf"
            conf.write_text(
                f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
                f"persistence_location {self.workdir}/\nautosave_interval 1\nlog_dest stderr\n"
                f"log_type error\nlog_type warning\n"
                # as root mosquitto would switch to user 'mosquitto', who cannot read a private temp dir
                f"{'user root' if os.geteuid() == 0 else ''}\n{self.extra_config}\n"
            )
            cmd = [str(self._exe), "-c", str(conf)]
        else:
            cmd = [sys.executable, "-m", "edgesight.uplink.broker", "--port", str(self.port)]
        self._proc = subprocess.Popen(cmd, stdout=log, stderr=log, start_new_session=True)
        log.close()
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self._proc.poll() is not None:
                raise EdgesightError(
                    f"{self.kind} exited with {self._proc.returncode}: {(self.workdir / 'broker.log').read_text()[-500:]}"
                )
            if _listening(self.port):
                return self
            time.sleep(0.05)
        self.stop()
        raise EdgesightError(f"{self.kind} did not listen on port {self.port} within {timeout:g}s")

    def stop(self, timeout: float = 10.0) -> None:
        """Graceful stop (SIGTERM: mosquitto writes its persistence file), SIGKILL after ``timeout``."""
        p, self._proc = self._proc, None
        if p is None or p.poll() is not None:
            return
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
        end = time.monotonic() + 5
        while _listening(self.port) and time.monotonic() < end:
            time.sleep(0.05)

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            with contextlib.suppress(OSError):
                self._tmp.cleanup()

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
