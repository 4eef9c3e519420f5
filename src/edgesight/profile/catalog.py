"""Hardware catalog: load `catalog.yaml` (data, not code) into typed, read-only targets."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from edgesight.errors import ConfigError

__all__ = ["Figure", "Target", "load_catalog"]


@dataclass(frozen=True)
class Figure:
    """A catalog figure and where it comes from (vendor page/datasheet, or `derived:`/`assumption:`)."""

    value: float
    source: str


@dataclass(frozen=True)
class Target:
    """One hardware target. Units: bytes, GOPS (1 MAC = 2 ops), GB/s, W, USD."""

    id: str
    name: str
    kind: str  # mcu | cpu | gpu | npu | host
    runtimes: tuple[str, ...]
    precisions: tuple[str, ...]
    figures: dict[str, Figure] = field(default_factory=dict)
    peak_gops: dict[str, Figure] = field(default_factory=dict)
    requires_host: str | None = None
    measured: bool = False

    def fig(self, key: str) -> Figure | None:
        """A top-level figure (`sram_bytes`, `flash_bytes`, `dram_bytes`, `bandwidth_gbps`...)."""
        return self.figures.get(key)

    def value(self, key: str, default: float = 0.0) -> float:
        f = self.figures.get(key)
        return f.value if f is not None else default

    @property
    def memory_bytes(self) -> int:
        """RAM available to the model: SRAM for MCUs/Edge TPU cache, DRAM otherwise."""
        if self.kind == "mcu":
            return int(self.value("sram_bytes"))
        return int(self.value("dram_bytes") or self.value("sram_bytes"))


def _figure(raw: object, where: str) -> Figure:
    if not isinstance(raw, dict) or "value" not in raw or "source" not in raw:
        raise ConfigError(f"catalog {where}: expected {{value, source}}, found {raw!r}")
    if not str(raw["source"]).strip():
        raise ConfigError(f"catalog {where}: empty source")
    return Figure(float(raw["value"]), str(raw["source"]))


_FIGURE_KEYS = (
    "sram_bytes",
    "flash_bytes",
    "dram_bytes",
    "bandwidth_gbps",
    "power_w",
    "price_usd",
    "efficiency",
    "runtime_flash_bytes",
)


def load_catalog(path: str | Path | None = None) -> tuple[Target, ...]:
    """Load the catalog (the packaged `catalog.yaml` by default).

    Raises:
        ConfigError: the file is missing, not YAML, or a figure lacks a value or source.
    """
    try:
        if path is None:
            text = resources.files("edgesight.profile").joinpath("catalog.yaml").read_text("utf-8")
            where = "edgesight/profile/catalog.yaml"
        else:
            text = Path(path).read_text("utf-8")
            where = str(path)
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read hardware catalog: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("targets"), list):
        raise ConfigError(f"{where}: expected a mapping with a 'targets' list")
    out: list[Target] = []
    for i, raw in enumerate(data["targets"]):
        tid = raw.get("id", f"#{i}")
        figures = {k: _figure(raw[k], f"{tid}.{k}") for k in _FIGURE_KEYS if k in raw}
        peaks = {p: _figure(v, f"{tid}.peak_gops.{p}") for p, v in (raw.get("peak_gops") or {}).items()}
        out.append(
            Target(
                id=str(tid),
                name=str(raw.get("name", tid)),
                kind=str(raw.get("kind", "cpu")),
                runtimes=tuple(raw.get("runtimes", ())),
                precisions=tuple(raw.get("precisions", ())),
                figures=figures,
                peak_gops=peaks,
                requires_host=raw.get("requires_host"),
                measured=bool(raw.get("measured", False)),
            )
        )
    return tuple(out)
