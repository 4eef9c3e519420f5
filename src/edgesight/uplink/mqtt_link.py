"""The MQTT link: drains the outbox to a broker with paho-mqtt 2.x, QoS 1, delete-after-PUBACK.

One thread owns one paho client per connection attempt and drives its network loop itself
(``client.loop``), so paho never retransmits behind our back: after a reconnect the outbox is the only
source of truth and everything not acknowledged is simply sent again (receivers de-duplicate on
``message_id``). Within a connection at most ``max_inflight`` messages are unacknowledged; each window
is filled in send order (priority, then FIFO), so after a reconnect every queued alert is written to the
socket before any event, twin report or telemetry.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import sqlite3
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode

from edgesight.config import UplinkConfig
from edgesight.uplink.messages import UplinkError, status_payload, topic
from edgesight.uplink.outbox import Outbox

__all__ = ["MessageHandler", "MqttLink", "build_tls_context", "describe_connect_error"]

log = logging.getLogger("edgesight.uplink")

#: handler(channel, payload) for messages received on ``twin/desired`` and ``deployments``.
MessageHandler = Callable[[str, dict[str, Any]], None]

_INBOUND = ("twin/desired", "deployments")


def build_tls_context(cfg: UplinkConfig) -> ssl.SSLContext | None:
    """The TLS context for ``cfg`` (None for plain mqtt:// without a tls section). Checks files up front."""
    scheme = urlsplit(cfg.url).scheme
    if cfg.tls is None and scheme != "mqtts":
        return None
    tls = cfg.tls
    for key in ("ca_file", "cert_file", "key_file"):
        p: Path | None = getattr(tls, key, None) if tls else None
        if p is not None and not Path(p).is_file():
            raise UplinkError(f"uplink.tls.{key}: file not found: {p}")
    try:
        ctx = ssl.create_default_context(cafile=str(tls.ca_file) if tls and tls.ca_file else None)
        if tls and tls.cert_file and tls.key_file:
            ctx.load_cert_chain(str(tls.cert_file), str(tls.key_file))
    except ssl.SSLError as exc:
        raise UplinkError(
            f"uplink.tls: cannot load certificates ({exc.reason or exc}); expected PEM files"
        ) from None
    except OSError as exc:
        raise UplinkError(f"uplink.tls: cannot read certificate files ({exc})") from None
    if tls and tls.insecure_skip_verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def describe_connect_error(
    exc: BaseException, host: str, port: int, timeout: float, tls: bool = False
) -> str:
    """One line saying what failed when connecting to the broker and what to check."""
    where = f"{host}:{port}"
    if tls and isinstance(exc, (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError)):
        return (
            f"TLS handshake with {where} failed (the peer closed the connection); is it a TLS listener (mqtts://), "
            "and does it require a client certificate (uplink.tls.cert_file/key_file)?"
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return (
            f"TLS: the broker certificate at {where} is not trusted ({exc.verify_message}); "
            "set uplink.tls.ca_file to the CA that signed it"
        )
    if isinstance(exc, ssl.SSLError):
        return (
            f"TLS handshake with {where} failed ({exc.reason or exc}); is it a TLS listener (mqtts://) and are "
            "uplink.tls.cert_file/key_file accepted by the broker?"
        )
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve broker host {host!r} ({exc.strerror})"
    if isinstance(exc, ConnectionRefusedError):
        return f"broker {where} refused the connection (nothing listening there?)"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"no answer from broker {where} within {timeout:g}s"
    if isinstance(exc, OSError):
        return f"cannot reach broker {where}: {exc.strerror or exc}"
    return f"cannot connect to broker {where}: {exc}"


class MqttLink:
    """Background sender from an Outbox file to one broker.

    Args:
        cfg: uplink settings (URL, credentials, TLS, window, backoff, max message size).
        db_path: SQLite file holding the outbox tables.
        device_id: used in topics and status messages.
        version: software version published in the ``online`` status.
        on_message: called (in the link thread) with (channel, JSON object) for twin/desired and deployments.
        tls_context: prebuilt context (from ``build_tls_context``); built here when not given.
    """

    def __init__(
        self,
        cfg: UplinkConfig,
        db_path: str | Path,
        device_id: str,
        version: str,
        on_message: MessageHandler | None = None,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.cfg = cfg
        self.db_path = Path(db_path)
        self.device_id = device_id
        self.version = version
        self.on_message = on_message
        parts = urlsplit(cfg.url)
        self.host = parts.hostname or ""
        self.port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        self._tls = tls_context if tls_context is not None else build_tls_context(cfg)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self.last_error: str | None = None
        # Poison-message guard: messages in flight when a connection broke are re-sent one at a time
        # first ("probe"); one that is alone in flight when the broker drops us twice is held.
        self._suspects: list[int] = []
        self._strikes: dict[int, int] = {}
        self.connects = 0
        self.published = 0
        self.acked = 0

    # ------------------------------------------------------------------ public
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"edgesight-uplink-{self.device_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Publish ``offline`` (retained) if connected, disconnect, join the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def wait_connected(self, timeout: float) -> bool:
        return self._connected.wait(timeout)

    def topic(self, channel: str) -> str:
        return topic(self.cfg.topic_prefix, self.device_id, channel)

    # ------------------------------------------------------------------ thread
    def _run(self) -> None:
        # deletes after PUBACK need no fsync: losing one to a power cut only means a resend (at least once)
        outbox = Outbox(self.db_path, self.cfg.outbox, synchronous="NORMAL")
        try:
            released = outbox.release_held(self.cfg.max_message_bytes)
            if released:
                log.info("uplink: %d held message(s) now fit max_message_bytes and will be sent", released)
            delay = self.cfg.reconnect_initial_seconds
            while not self._stop.is_set():
                try:
                    ok = self._connection(outbox)
                except sqlite3.Error as exc:  # e.g. disk full: keep retrying, the queued rows are safe
                    log.warning("uplink: outbox database error (%s); retrying", exc)
                    self.last_error = f"outbox database error: {exc}"
                    ok = False
                except Exception as exc:  # a bug must not end sending for good: log it, back off, retry
                    log.exception("uplink: unexpected error in the link (%s); retrying", exc)
                    self.last_error = f"uplink error: {exc}"
                    ok = False
                if self._stop.is_set():
                    break
                delay = (
                    self.cfg.reconnect_initial_seconds
                    if ok
                    else min(delay * 2, self.cfg.reconnect_max_seconds)
                )
                self._stop.wait(delay)
        except Exception as exc:  # the link must never die silently; the outbox keeps everything
            log.exception("uplink: link thread failed: %s", exc)
            self._note_error(outbox, f"uplink thread failed: {exc}")
        finally:
            self._connected.clear()
            outbox.close()

    def _client(self) -> mqtt.Client:
        c = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.cfg.client_id or f"edgesight-{self.device_id}",
            clean_session=True,
            protocol=mqtt.MQTTv311,
        )
        c.connect_timeout = self.cfg.connect_timeout_seconds
        c.max_inflight_messages_set(0)  # unlimited in paho: the window is ours
        c.max_queued_messages_set(0)
        if self.cfg.username is not None:
            c.username_pw_set(self.cfg.username, self.cfg.password)
        if self._tls is not None:
            c.tls_set_context(self._tls)
        c.will_set(
            self.topic("status"), status_payload(self.device_id, "offline", self.version), qos=1, retain=True
        )
        return c

    def _note_error(self, outbox: Outbox, msg: str) -> None:
        depth = outbox.stats().total_depth
        full = f"{msg}; {depth} message(s) stay queued in the outbox"
        if full != self.last_error:
            log.warning("uplink: %s", full)
        outbox.set_state(connected=0, last_error=full, last_error_at=time.time(), broker=self.cfg.url)
        self.last_error = full

    def _connection(self, outbox: Outbox) -> bool:
        """One connection: connect, drain until it drops or stop; True if a session was established."""
        client = self._client()
        connack: dict[str, Any] = {}
        acked: list[int] = []
        inflight: dict[int, int] = {}
        lost: list[str] = []

        def on_connect(_c: mqtt.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
            connack["reason"] = reason

        def on_publish(_c: mqtt.Client, _u: Any, mid: int, reason: Any, _props: Any) -> None:
            seq = inflight.pop(mid, None)
            if seq is not None:
                acked.append(seq)

        def on_disconnect(_c: mqtt.Client, _u: Any, _flags: Any, reason: Any, _props: Any) -> None:
            lost.append(str(reason))

        def on_message(_c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
            self._inbound(msg)

        client.on_connect = on_connect
        client.on_publish = on_publish
        client.on_disconnect = on_disconnect
        client.on_message = on_message
        try:
            client.connect(self.host, self.port, keepalive=self.cfg.keepalive_seconds)
        except (OSError, ssl.SSLError, ValueError) as exc:
            self._note_error(
                outbox,
                describe_connect_error(
                    exc, self.host, self.port, self.cfg.connect_timeout_seconds, self._tls is not None
                ),
            )
            return False
        deadline = time.monotonic() + self.cfg.connect_timeout_seconds
        while (
            "reason" not in connack and not lost and time.monotonic() < deadline and not self._stop.is_set()
        ):
            if client.loop(0.05) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                lost.append("closed")
                break
        reason = connack.get("reason")
        if reason is None or reason.is_failure:
            if reason is not None:
                what = f"broker {self.host}:{self.port} refused the session: {reason}"
                if "authori" in str(reason).lower() or "password" in str(reason).lower():
                    what += " (check uplink.username/password or the client certificate)"
            elif self._stop.is_set():
                return False
            elif lost and self._tls is not None:
                what = (
                    f"broker {self.host}:{self.port} closed the TLS connection before accepting the session "
                    "(does it require a client certificate? set uplink.tls.cert_file/key_file)"
                )
            elif lost:
                what = f"broker {self.host}:{self.port} closed the connection before accepting the session"
            else:
                what = (
                    f"no MQTT CONNACK from {self.host}:{self.port} within {self.cfg.connect_timeout_seconds:g}s "
                    "(is it an MQTT port? a TLS listener needs mqtts://)"
                )
            self._note_error(outbox, what)
            with contextlib.suppress(Exception):
                client.disconnect()
            return False

        self.connects += 1
        self.last_error = None
        outbox.set_state(connected=1, connected_at=time.time(), last_error=None, broker=self.cfg.url)
        log.info("uplink: connected to %s (%d queued)", self.cfg.url, outbox.stats().total_depth)
        client.publish(
            self.topic("status"),
            status_payload(
                self.device_id, "online", self.version, {"outbox_depth": outbox.stats().total_depth}
            ),
            qos=1,
            retain=True,
        )
        for ch in _INBOUND:
            client.subscribe(self.topic(ch), qos=1)
        self._connected.set()
        try:
            self._drain(client, outbox, inflight, acked, lost)
        finally:
            self._connected.clear()
        if self._stop.is_set() and not lost:
            info = client.publish(
                self.topic("status"),
                status_payload(self.device_id, "offline", self.version),
                qos=1,
                retain=True,
            )
            end = time.monotonic() + 2.0
            while not info.is_published() and time.monotonic() < end:
                if client.loop(0.05) != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
            if acked:
                outbox.ack(acked)
            with contextlib.suppress(Exception):
                client.disconnect()
        elif lost:
            self._after_loss(outbox, list(inflight.values()))
            why = (
                "closed by the broker or the network"
                if lost[0] in ("Unspecified error", "closed")
                else lost[0]
            )
            self._note_error(outbox, f"connection to {self.cfg.url} lost ({why})")
        return True

    def _after_loss(self, outbox: Outbox, in_flight: list[int]) -> None:
        """Update the poison-message guard after a connection broke with ``in_flight`` unacknowledged."""
        if self._suspects and in_flight == self._suspects[:1]:
            seq = in_flight[0]
            self._strikes[seq] = self._strikes.get(seq, 0) + 1
            if self._strikes[seq] >= 2:
                row = outbox.get(seq)
                outbox.hold(seq)
                self._suspects.pop(0)
                del self._strikes[seq]
                if row is not None:
                    log.warning(
                        "uplink: the broker closed the connection each time message %s (%d bytes, %s) was sent "
                        "alone: held in the outbox (kept, not sent). A broker limit such as mosquitto's "
                        "max_packet_size is probably below it: lower uplink.max_message_bytes to match, or raise "
                        "the broker's limit (held messages that fit are retried on the next start)",
                        row.message_id,
                        len(row.payload),
                        row.msg_class,
                    )
        elif in_flight and not self._suspects:
            self._suspects = in_flight  # publish order = send order

    def _drain(
        self, client: mqtt.Client, outbox: Outbox, inflight: dict[int, int], acked: list[int], lost: list[str]
    ) -> None:
        window = self.cfg.max_inflight
        last_expire = 0.0
        # acknowledged but not yet deleted (the file was busy): never re-sent, deleted on a later pass
        unacked_deletes: list[int] = []
        while not self._stop.is_set() and not lost:
            busy = False
            now = time.time()
            if now - last_expire > 30.0:
                last_expire = now
                if outbox.expire(now):
                    busy = True
            acked_now = list(acked)
            if acked:
                unacked_deletes.extend(acked)
                acked.clear()
            if unacked_deletes:
                # block only when the backlog of deletes is large; otherwise try briefly and move on
                n = (
                    outbox.ack(unacked_deletes)
                    if len(unacked_deletes) >= 8 * window
                    else outbox.try_ack(unacked_deletes)
                )
                if n is not None:
                    self.acked += n
                    unacked_deletes.clear()
            if self._suspects and acked_now:
                done = set(acked_now)
                self._suspects = [q for q in self._suspects if q not in done]
                for q in done:
                    self._strikes.pop(q, None)
            # probing after a broken connection: the suspects go first, one at a time
            probing = bool(self._suspects)
            free = (0 if inflight else 1) if probing else window - len(inflight)
            if free > 0:
                if probing:
                    row1 = outbox.get(self._suspects[0], now)
                    if row1 is None:  # deleted, expired or held meanwhile
                        self._suspects.pop(0)
                        continue
                    rows = [row1]
                else:
                    rows = outbox.peek(free, exclude=[*inflight.values(), *unacked_deletes], now=now)
                for row in rows:
                    info = client.publish(self.topic(row.channel), row.payload, qos=1)
                    if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                        inflight[info.mid] = row.seq
                        self.published += 1
                    elif info.rc == MQTTErrorCode.MQTT_ERR_PAYLOAD_SIZE:
                        log.warning(
                            "uplink: message %s is too large for MQTT; held in the outbox", row.message_id
                        )
                        outbox.hold(row.seq)
                    else:
                        lost.append(f"publish failed: {mqtt.error_string(info.rc)}")
                        break
                busy = busy or len(rows) == free
            rc = client.loop(0.0 if busy else 0.05)
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS and not lost:
                lost.append(mqtt.error_string(rc))
        if acked or unacked_deletes:
            self.acked += outbox.ack([*unacked_deletes, *acked])
            acked.clear()

    def _inbound(self, msg: mqtt.MQTTMessage) -> None:
        channel = next((ch for ch in _INBOUND if msg.topic == self.topic(ch)), None)
        if channel is None:
            return
        try:
            data = json.loads(msg.payload)
            if not isinstance(data, dict) or "schema" not in data:
                raise ValueError("expected a JSON object with a 'schema' field")
        except (ValueError, UnicodeDecodeError) as exc:
            log.warning(
                "uplink: rejected malformed message on %s (%d bytes): %s", msg.topic, len(msg.payload), exc
            )
            return
        if self.on_message is not None:
            try:
                self.on_message(channel, data)
            except Exception:
                log.exception("uplink: handler for %s failed", channel)
