"""Rules: tracked detections over time -> events (start/update/end + best snapshot).

Public API (what the runner and composite rules use)::

    from edgesight.rules import build_rules

    rules = build_rules(cfg.rules, device_id=cfg.device_id, snapshots=cfg.store.snapshots,
                        names=detector.names)          # ONE set of rule objects per source
    for frame, dets in stream:                          # dets: tracked Detections, frame pixels
        for rule in rules:
            for event in rule.step(dets, frame):
                store.save(event, rule.take_snapshot(event))   # JPEG bytes or None
    for rule in rules:                                  # end of stream: end open events
        for event in rule.flush(last_frame_or_None):
            store.save(event, rule.take_snapshot(event))

- Every rule satisfies :class:`edgesight.protocols.Rule` and also has ``take_snapshot(event)``
  (JPEG bytes for a message of the last step/flush, valid until the next call).
- Thresholds are seconds of stream time (``Frame.pts``), never frames.
- One rule object per source: track ids are per source.
- Writing a new rule (ppe, near_miss, defect): subclass :class:`LifecycleRule`, implement
  ``_step(detections, frame) -> list[Event]`` using ``self.lifecycle`` (:class:`EventLifecycle`:
  ``open`` -> ``observe``/``update`` -> ``close``, or ``instant`` for a point event) and
  ``self.cooldown`` (:class:`Cooldown`), then add ``YourConfig: YourRule`` to ``_REGISTRY`` below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol

from edgesight.config import (
    DefectRuleConfig,
    LineRuleConfig,
    NearMissRuleConfig,
    ObjectRuleConfig,
    PpeRuleConfig,
    SnapshotConfig,
    ZoneRuleConfig,
)
from edgesight.errors import ConfigError
from edgesight.rules.defect import DefectRule
from edgesight.rules.lifecycle import (
    BestMoment,
    Cooldown,
    EventLifecycle,
    FrameKeeper,
    LifecycleRule,
    encode_snapshot,
    filter_detections,
    sharpness,
)
from edgesight.rules.line import LineRule
from edgesight.rules.near_miss import NearMissRule
from edgesight.rules.objects import ObjectRule
from edgesight.rules.ppe import PpeRule
from edgesight.rules.zone import ZoneRule
from edgesight.types import Detections, Event, Frame

__all__ = [
    "BestMoment",
    "Cooldown",
    "DefectRule",
    "EventLifecycle",
    "FrameKeeper",
    "LifecycleRule",
    "LineRule",
    "NearMissRule",
    "ObjectRule",
    "PpeRule",
    "SnapshotRule",
    "ZoneRule",
    "build_rule",
    "build_rules",
    "encode_snapshot",
    "filter_detections",
    "rule_types",
    "sharpness",
]


class SnapshotRule(Protocol):
    """:class:`edgesight.protocols.Rule` plus the snapshot hand-off every rule here provides."""

    name: str

    def step(self, detections: Detections, frame: Frame) -> list[Event]: ...

    def flush(self, frame: Frame | None) -> list[Event]: ...

    def take_snapshot(self, event: Event) -> bytes | None: ...


RuleFactory = Callable[..., SnapshotRule]

# Explicit registry: config class -> rule class. Each factory is called as
# factory(cfg, device_id=..., snapshots=...). Read-only: add entries here, in the literal.
_REGISTRY: Mapping[type, RuleFactory] = MappingProxyType(
    {
        ZoneRuleConfig: ZoneRule,
        LineRuleConfig: LineRule,
        ObjectRuleConfig: ObjectRule,
        PpeRuleConfig: PpeRule,
        NearMissRuleConfig: NearMissRule,
        DefectRuleConfig: DefectRule,
    }
)


def rule_types() -> Mapping[type, RuleFactory]:
    """The registry (read-only): rule config class -> rule class."""
    return _REGISTRY


def build_rule(
    cfg: Any,
    *,
    device_id: str = "local",
    snapshots: SnapshotConfig | None = None,
    names: Mapping[int, str] | Iterable[str] | None = None,
) -> SnapshotRule:
    """Build one rule from its config (see :func:`build_rules`)."""
    factory = _REGISTRY.get(type(cfg))
    if factory is None:
        known = ", ".join(sorted(getattr(t, "__name__", str(t)) for t in _REGISTRY))
        raise ConfigError(
            f"rule {getattr(cfg, 'name', '?')!r}: no rule type for {type(cfg).__name__} (known: {known})"
        )
    if names is not None:
        _check_classes(cfg, names)
    return factory(cfg, device_id=device_id, snapshots=snapshots)


def build_rules(
    configs: Sequence[Any],
    *,
    device_id: str = "local",
    snapshots: SnapshotConfig | None = None,
    names: Mapping[int, str] | Iterable[str] | None = None,
) -> list[SnapshotRule]:
    """Runtime rule objects for one source, in config order.

    Args:
        configs: rule configs (``PipelineConfig.rules``).
        device_id: stamped on every event.
        snapshots: snapshot settings (``StoreConfig.snapshots``); None = no snapshots (no JPEGs, no frame copies).
        names: the detector's class names (id -> name, or a list); when given, a rule watching a
            class the model does not have is refused with a ConfigError instead of never firing.
    """
    return [build_rule(c, device_id=device_id, snapshots=snapshots, names=names) for c in configs]


def _check_classes(cfg: Any, names: Mapping[int, str] | Iterable[str]) -> None:
    wanted = getattr(cfg, "classes", None)
    if not wanted:
        return
    have = set(names.values()) if isinstance(names, Mapping) else set(names)
    missing = [c for c in wanted if c not in have]
    if missing:
        sample = ", ".join(sorted(have)[:12]) + (", ..." if len(have) > 12 else "")
        raise ConfigError(
            f"rule {cfg.name!r}: classes {missing} are not classes of the model (it has: {sample})"
        )
