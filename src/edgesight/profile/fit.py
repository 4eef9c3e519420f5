"""Fit a model to targets (`profile`) and rank the targets that meet a requirement (`recommend`).

Everything about a target we do not have in hand (latency, energy, fps) is an ESTIMATE from the
catalog's sourced figures and an assumed efficiency; memory and flash needs come from the model
itself (the TFLM arena prediction is exact for the planned part, see memory_planner.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from edgesight.profile.catalog import Target
from edgesight.profile.cost import GraphCost, graph_cost
from edgesight.profile.graph import Graph
from edgesight.profile.latency import LatencyEstimate, MachineCalibration, estimate_latency
from edgesight.profile.memory_planner import MemoryPlan, align_up, plan_generic, plan_tflm
from edgesight.profile.op_support import SupportReport, check_support
from edgesight.profile.tflm_arena import ArenaEstimate, estimate_tflm_arena

__all__ = ["ModelProfile", "Recommendation", "TargetFit", "profile_model", "recommend"]


@dataclass(frozen=True)
class TargetFit:
    """How a model fits one target.

    Attributes:
        target: the catalog target.
        status: `fits`, `partial` (runs with some ops on the host CPU) or `no`.
        ram_need_bytes / ram_have_bytes: working memory needed (TFLM arena on MCUs; weights +
            planned activations elsewhere) and available.
        flash_need_bytes / flash_have_bytes: program storage (MCUs only; 0 = not applicable).
        latency: the latency ESTIMATE (or calibrated estimate for this machine).
        energy_mj: estimated energy per inference, millijoules (latency x typical power).
        power_w / price_usd: including the host an accelerator needs.
        support: op-support verdict.
        reasons: why it does not fit (empty when it fits).
    """

    target: Target
    status: str
    ram_need_bytes: int
    ram_have_bytes: int
    flash_need_bytes: int
    flash_have_bytes: int
    latency: LatencyEstimate
    energy_mj: float | None
    power_w: float | None
    price_usd: float | None
    support: SupportReport
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelProfile:
    """Everything `edgesight profile` knows about a model."""

    graph: Graph
    cost: GraphCost
    plan: MemoryPlan
    arena: ArenaEstimate | None
    fits: tuple[TargetFit, ...]
    calibration: MachineCalibration | None = None

    @property
    def mcu_verdict(self) -> str | None:
        """One sentence when the model fits none of the profiled MCUs (None if one fits or none profiled)."""
        mcus = [f for f in self.fits if f.target.kind == "mcu"]
        if not mcus or any(f.status != "no" for f in mcus):
            return None
        ram = max(mcus, key=lambda f: f.ram_have_bytes)
        why = [
            f"it needs {_kb(ram.ram_need_bytes)} of RAM and the largest MCU SRAM here is {_kb(ram.ram_have_bytes)} ({ram.target.id})"
        ]
        flash = max(mcus, key=lambda f: f.flash_have_bytes)
        if flash.flash_need_bytes > flash.flash_have_bytes:
            why.append(
                f"{_kb(flash.flash_need_bytes)} of flash against at most {_kb(flash.flash_have_bytes)}"
            )
        if self.graph.format != "tflite":
            why.append("TFLite Micro needs an int8 .tflite")
        if ram.ram_need_bytes <= ram.ram_have_bytes:
            why = list(ram.reasons)
        return "cannot fit any MCU in the catalog: " + "; ".join(why)


def _kb(n: float) -> str:
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MiB"
    return f"{n / 1024:.1f} KiB"


def _mcu_needs(
    graph: Graph, cost: GraphCost, arena: ArenaEstimate | None, plan: MemoryPlan
) -> tuple[int, int]:
    """(RAM, flash) for an MCU: the TFLM arena and the model as stored, int8 for float models."""
    if arena is not None:
        return arena.total_bytes, graph.file_bytes
    # A float ONNX model would first be converted to int8 TFLite: activations and weights 4x smaller.
    scale = 4 if graph.precision == "fp32" else (2 if graph.precision == "fp16" else 1)
    return align_up(plan.arena_bytes // scale), cost.params


def _host_of(target: Target, catalog: dict[str, Target]) -> Target | None:
    return catalog.get(target.requires_host) if target.requires_host else None


def fit_target(
    graph: Graph,
    cost: GraphCost,
    plan: MemoryPlan,
    arena: ArenaEstimate | None,
    target: Target,
    catalog: dict[str, Target],
    calibration: MachineCalibration | None = None,
) -> TargetFit:
    """Decide whether `graph` fits `target` and estimate how fast it runs there."""
    support = check_support(graph, target)
    reasons: list[str] = []
    flash_need = flash_have = 0
    if target.kind == "mcu":
        ram_need, model_flash = _mcu_needs(graph, cost, arena, plan)
        flash_need = model_flash + int(target.value("runtime_flash_bytes"))
        flash_have = int(target.value("flash_bytes"))
        ram_have = int(target.value("sram_bytes"))
        what = "TFLM arena" if arena is not None else "activations after int8 conversion"
        if ram_need > ram_have:
            reasons.append(f"RAM: {what} needs {_kb(ram_need)}, {target.id} has {_kb(ram_have)} SRAM")
        if flash_need > flash_have:
            reasons.append(
                f"flash: model {_kb(model_flash)} + runtime {_kb(flash_need - model_flash)} = {_kb(flash_need)}, "
                f"{target.id} has {_kb(flash_have)}"
            )
    else:
        precision_bytes = {"int8": 1, "fp16": 2}.get(estimate_latency(graph, cost, target).precision, 4)
        weights = cost.params * precision_bytes if graph.precision == "fp32" else graph.weight_bytes
        ram_need = weights + plan.arena_bytes
        ram_have = target.memory_bytes
        if target.requires_host is None and ram_have and ram_need > ram_have:
            reasons.append(
                f"RAM: weights + activations need {_kb(ram_need)}, {target.id} has {_kb(ram_have)}"
            )
    reasons.extend(support.problems)
    if support.unsupported and target.kind == "mcu":
        names = ", ".join(f"{u.op_type} (op {u.position})" for u in support.unsupported[:5])
        reasons.append(f"unsupported ops: {names}")
    latency = estimate_latency(graph, cost, target, calibration if target.measured else None)
    host = _host_of(target, catalog)
    power = target.value("power_w") or None
    price = target.value("price_usd") if "price_usd" in target.figures else None
    if host is not None:
        power = (power or 0.0) + host.value("power_w")
        price = (price or 0.0) + host.value("price_usd")
    if target.measured:
        power = None
    energy = latency.seconds * power * 1e3 if power else None
    if reasons:
        status = "no"
    elif support.unsupported:
        status = "partial"
        if target.runtimes and target.runtimes[0] == "edgetpu":
            reasons.append(support.notes[0] if support.notes else "some ops run on the host CPU")
    else:
        status = "fits"
    return TargetFit(
        target=target,
        status=status,
        ram_need_bytes=int(ram_need),
        ram_have_bytes=int(ram_have),
        flash_need_bytes=int(flash_need),
        flash_have_bytes=int(flash_have),
        latency=latency,
        energy_mj=energy,
        power_w=power,
        price_usd=price,
        support=support,
        reasons=tuple(reasons),
    )


def profile_model(
    graph: Graph,
    targets: tuple[Target, ...],
    catalog: tuple[Target, ...],
    calibration: MachineCalibration | None = None,
) -> ModelProfile:
    """Cost, memory plan, TFLM arena (TFLite models) and a fit per target."""
    cost = graph_cost(graph)
    plan = plan_tflm(graph) if graph.format == "tflite" else plan_generic(graph)
    arena = estimate_tflm_arena(graph) if graph.format == "tflite" else None
    by_id = {t.id: t for t in catalog}
    fits = tuple(fit_target(graph, cost, plan, arena, t, by_id, calibration) for t in targets)
    return ModelProfile(graph, cost, plan, arena, fits, calibration)


@dataclass(frozen=True)
class Recommendation:
    """Result of `recommend`.

    Attributes:
        ranked: targets meeting every requirement, best first.
        rejected: (fit, reason) for the others.
        explanation: how the ranking was made.
        suggestions: what to change when nothing (or little) qualifies.
    """

    ranked: tuple[TargetFit, ...]
    rejected: tuple[tuple[TargetFit, str], ...]
    explanation: str
    suggestions: tuple[str, ...] = field(default_factory=tuple)


def recommend(
    profile: ModelProfile, fps: float, max_watts: float | None = None, max_price: float | None = None
) -> Recommendation:
    """Rank targets that run the model at >= `fps` within the power and price limits.

    Ranking: targets with >= 2x headroom over `fps` first (latency figures are estimates that can be
    off by that much; the others are marked tight), then cheapest total price (board + required
    host), then lowest energy per inference.
    """
    ok: list[TargetFit] = []
    rejected: list[tuple[TargetFit, str]] = []
    for f in profile.fits:
        if f.status == "no":
            rejected.append((f, "; ".join(f.reasons) or "does not fit"))
            continue
        if f.latency.fps < fps:
            rejected.append((f, f"estimated {f.latency.fps:.2g} fps < {fps:g} fps required"))
            continue
        if max_watts is not None and (f.power_w is None or f.power_w > max_watts):
            why = "power unknown" if f.power_w is None else f"{f.power_w:g} W > {max_watts:g} W"
            rejected.append((f, why))
            continue
        if max_price is not None and (f.price_usd is None or f.price_usd > max_price):
            why = "price unknown" if f.price_usd is None else f"${f.price_usd:g} > ${max_price:g}"
            rejected.append((f, why))
            continue
        ok.append(f)
    ok.sort(
        key=lambda f: (
            f.latency.fps < 2 * fps,  # tight headroom last: the estimate may be off by 2x
            f.price_usd if f.price_usd is not None else math.inf,
            f.energy_mj or math.inf,
        )
    )
    limits = [f">= {fps:g} fps"]
    if max_watts is not None:
        limits.append(f"<= {max_watts:g} W")
    if max_price is not None:
        limits.append(f"<= ${max_price:g}")
    explanation = (
        f"Targets that fit the model and meet {', '.join(limits)} (ESTIMATED fps). Ranked: targets with at least "
        "2x headroom over the required fps first (the estimates can be off by that much), then by total price "
        "(board + the host an accelerator needs), then by estimated energy per inference."
    )
    suggestions = tuple(_suggest(profile, fps, max_watts, max_price)) if len(ok) == 0 else ()
    return Recommendation(tuple(ok), tuple(rejected), explanation, suggestions)


def _suggest(
    profile: ModelProfile, fps: float, max_watts: float | None, max_price: float | None
) -> list[str]:
    """What to change when no target qualifies: quantize, shrink the input, or pick a smaller model."""
    g, cost = profile.graph, profile.cost
    out: list[str] = []
    if g.precision == "fp32":
        out.append(
            f"quantize to int8: weights {_kb(cost.params * 4)} -> {_kb(cost.params)}, activations 4x smaller, "
            "and NPUs (Coral, Hailo, RK3588) plus MCUs need int8 (edgesight optimize)"
        )
    # Targets within the power/price budget, ignoring speed: how much smaller must the model get?
    budget = [
        f
        for f in profile.fits
        if f.status != "no"
        and (max_watts is None or (f.power_w is not None and f.power_w <= max_watts))
        and (max_price is None or (f.price_usd is not None and f.price_usd <= max_price))
    ]
    if budget:
        best = max(budget, key=lambda f: f.latency.fps)
        need = fps / best.latency.fps
        side = _input_side(g)
        if side:
            new_side = int(side / math.sqrt(need) // 32 * 32)
            if new_side >= 32:
                out.append(
                    f"smaller input: compute scales with pixels; {best.target.id} needs ~{need:.1f}x less work, "
                    f"i.e. about {new_side}x{new_side} instead of {side}x{side} (ESTIMATE)"
                )
        out.append(
            f"smaller model: {best.target.id} is the fastest target in budget at ~{best.latency.fps:.2g} fps "
            f"(ESTIMATE); a model of <= {cost.macs / need / 1e9:.2f} GMACs (now {cost.macs / 1e9:.2f}) would reach {fps:g} fps"
        )
    mcu_fail = [f for f in profile.fits if f.target.kind == "mcu" and f.status == "no"]
    if mcu_fail and all(f.target.kind == "mcu" for f in budget or mcu_fail):
        biggest = max(mcu_fail, key=lambda f: f.ram_have_bytes)
        out.append(
            f"for an MCU: the largest SRAM in the catalog is {_kb(biggest.ram_have_bytes)} ({biggest.target.id}); "
            f"this model needs {_kb(biggest.ram_need_bytes)}: cut input resolution and early-layer channels, "
            "whose activations set the arena peak"
        )
    if not out:
        out.append("relax a limit: no target in the catalog meets all three requirements")
    return out


def _input_side(g: Graph) -> int | None:
    if not g.inputs:
        return None
    shape = g.tensors[g.inputs[0]].shape
    if len(shape) == 4:
        h = shape[2] if shape[1] in (1, 3) else shape[1]
        return int(h)
    return None
