"""Accuracy-controlled int8: return the most sensitive layers to float until the drop is within bounds.

1. Quantize everything (minus the decode tail by default) and score it.
2. Rank activation tensors by their quantization sensitivity: each tensor of the float model, on a few
   validation inputs, fake-quantized with the scale/zero point the int8 model gave it; sensitivity =
   worst per-channel relative RMS error (so a small-valued channel sharing a scale with a large one,
   e.g. scores concatenated with pixel boxes, stands out).
3. Keep the most sensitive tensors in float (their producer and consumers are excluded from
   quantization), re-quantize from the cached calibration ranges and score again; a group that did
   not help goes back to int8. Stop when ``reference_score - score <= max_drop``.

The score is any "higher is better" function of a model file: for detectors, mAP50 against the float
model's detections on held-apart frames (see :mod:`edgesight.evaluation.fidelity`).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from edgesight.optimize.detection_head import find_decode_tail
from edgesight.optimize.quantize import FloatNode, QuantizeReport, QuantizeSettings, quantize_int8

__all__ = ["ControlResult", "ControlStep", "Sensitivity", "accuracy_controlled_int8", "rank_sensitivity"]


@dataclass(frozen=True)
class Sensitivity:
    """How much quantizing one activation tensor hurts, and which nodes keep it float.

    Attributes:
        tensor: activation tensor name.
        error: worst per-channel relative RMS error of its int8 fake-quantization (0 = lossless).
        nodes: node names to exclude from quantization to keep it in float.
    """

    tensor: str
    error: float
    nodes: tuple[str, ...]


@dataclass(frozen=True)
class ControlStep:
    """One re-quantization: the tensors it moved (to float in phase 1, back to int8 in phase 2), the score
    after, and whether they stay in float."""

    tensors: tuple[str, ...]
    score: float
    kept: bool


@dataclass
class ControlResult:
    """Outcome of :func:`accuracy_controlled_int8`."""

    reference_score: float
    initial_score: float
    final_score: float
    max_drop: float
    ranking: list[Sensitivity]
    steps: list[ControlStep]
    kept_float: list[FloatNode]
    report: QuantizeReport
    met: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "reference_score": self.reference_score,
            "initial_score": self.initial_score,
            "final_score": self.final_score,
            "max_drop": self.max_drop,
            "met": self.met,
            "kept_float": [n.__dict__ for n in self.kept_float],
            "steps": [s.__dict__ for s in self.steps],
            "top_sensitivity": [s.__dict__ for s in self.ranking[:10]],
        }


def _activation_qparams(qdq: onnx.ModelProto) -> dict[str, tuple[float, int, int, int]]:
    """tensor -> (scale, zero_point, qmin, qmax) for per-tensor activation QuantizeLinear nodes."""
    inits = {t.name: numpy_helper.to_array(t) for t in qdq.graph.initializer}
    out: dict[str, tuple[float, int, int, int]] = {}
    for n in qdq.graph.node:
        if n.op_type != "QuantizeLinear" or n.input[0] in inits or len(n.input) < 3:
            continue
        scale, zp = inits.get(n.input[1]), inits.get(n.input[2])
        if scale is None or zp is None or scale.size != 1:
            continue
        info = np.iinfo(zp.dtype)
        out[n.input[0]] = (float(scale.reshape(-1)[0]), int(zp.reshape(-1)[0]), int(info.min), int(info.max))
    return out


def _channel_error(x: np.ndarray, scale: float, zp: int, qmin: int, qmax: int) -> float:
    x = x.astype(np.float64)
    dq = (np.clip(np.round(x / scale) + zp, qmin, qmax) - zp) * scale
    err = (x - dq) ** 2
    if x.ndim >= 2:
        axes = tuple(i for i in range(x.ndim) if i != 1)
        num = np.sqrt(err.mean(axis=axes))
        den = np.sqrt((x**2).mean(axis=axes))
    else:
        num, den = np.sqrt(np.atleast_1d(err.mean())), np.sqrt(np.atleast_1d((x**2).mean()))
    floor = 1e-3 * float(np.sqrt((x**2).mean())) + 1e-12  # ignore channels that are ~0 everywhere
    return float(np.max(num / np.maximum(den, floor)))


def rank_sensitivity(
    float_model: Path, qdq_model: Path, input_name: str, inputs: Sequence[np.ndarray]
) -> list[Sensitivity]:
    """Rank the int8 model's activation tensors by quantization error on ``inputs`` (most harmful first).

    Args:
        float_model: the pre-processed float model the int8 model was made from (same tensor names).
        qdq_model: the int8 QDQ model (gives each tensor's scale and zero point).
        input_name: model input name; inputs: a few preprocessed validation tensors.
    """
    import onnxruntime as ort

    fm = onnx.load(str(float_model))
    qparams = _activation_qparams(onnx.load(str(qdq_model)))
    graph_inputs = {i.name for i in fm.graph.input}
    produced = {o for n in fm.graph.node for o in n.output}
    # tensors the quantizer renamed (e.g. a graph output "x" -> "x_QuantizeLinear_Input") map back
    names = [t for t in qparams if t in produced or t in graph_inputs]
    for t in list(qparams):
        base = t.removesuffix("_QuantizeLinear_Input")
        if t not in produced and base != t and base in produced:
            qparams[base] = qparams[t]
            names.append(base)
    existing = {o.name for o in fm.graph.output}
    for t in names:
        if t not in existing and t not in graph_inputs:
            fm.graph.output.append(onnx.ValueInfoProto(name=t))
    consumers: dict[str, list[str]] = {}
    producer: dict[str, str] = {}
    for n in fm.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n.name)
        for o in n.output:
            producer[o] = n.name
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every tensor visible
    with tempfile.TemporaryDirectory(prefix="edgesight-sens-") as tmp:
        path = Path(tmp) / "probe.onnx"
        onnx.save(fm, str(path))
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        out_names = [o.name for o in sess.get_outputs()]
        errors: dict[str, float] = {t: 0.0 for t in names}
        for x in inputs:
            values = dict(zip(out_names, sess.run(out_names, {input_name: x}), strict=True))
            values[input_name] = x
            for t in names:
                if t in values:
                    errors[t] = max(errors[t], _channel_error(np.asarray(values[t]), *qparams[t]))
    ranked = [
        Sensitivity(
            t, e, tuple(dict.fromkeys([*([producer[t]] if t in producer else []), *consumers.get(t, [])]))
        )
        for t, e in errors.items()
        if t in producer or t in graph_inputs
    ]
    return sorted(ranked, key=lambda s: -s.error)


def _merge_decode_tail(ranked: list[Sensitivity], tail_nodes: set[str]) -> list[Sensitivity]:
    """One group for the decode tail (when it was quantized): its tensors only make sense together
    (boxes in pixels, scores, DFL), ranked at its worst member; other tensors stay single."""
    members = [s for s in ranked if s.nodes and s.nodes[0] in tail_nodes]
    if len(members) < 2:
        return ranked
    nodes = tuple(dict.fromkeys(n for s in members for n in s.nodes))
    worst = max(members, key=lambda s: s.error)
    group = Sensitivity(f"decode tail ({len(members)} tensors, worst {worst.tensor})", worst.error, nodes)
    rest = [s for s in ranked if s not in members]
    return sorted([group, *rest], key=lambda s: -s.error)


def accuracy_controlled_int8(
    source: Path,
    output: Path,
    input_name: str,
    calibration: Sequence[np.ndarray],
    validation: Sequence[np.ndarray],
    score: Callable[[Path], float],
    reference_score: float,
    max_drop: float,
    settings: QuantizeSettings | None = None,
    max_steps: int = 12,
    calibration_info: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> ControlResult:
    """Quantize ``source`` to int8 at ``output`` keeping ``reference_score - score(output) <= max_drop``.

    Args:
        source: float ONNX model.
        output: int8 model to write.
        input_name, calibration: as for :func:`quantize_int8`.
        validation: a few preprocessed inputs (not calibration frames) for the sensitivity ranking.
        score: model file -> quality (higher is better), measured on held-apart data.
        reference_score: the float model's score (1.0 for fidelity against itself).
        max_drop: largest accepted ``reference_score - score``.
        settings: quantization settings of the first attempt.
        max_steps: re-quantizations allowed after the first attempt.
        progress: called with a short message per step.
    """
    say = progress or (lambda _m: None)
    settings = settings or QuantizeSettings()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="edgesight-ac-") as tmp:
        cache = Path(tmp) / "ranges.json"
        pre = Path(tmp) / "pre.onnx"
        trial = Path(tmp) / "trial.onnx"
        say("quantizing (all layers)")
        report = quantize_int8(
            source, trial, input_name, calibration, settings, None, cache, calibration_info, pre
        )
        first = score(trial)
        best_score, best_path = first, Path(tmp) / "best.onnx"
        trial.replace(best_path)
        say(f"int8 score {first:.4f} (reference {reference_score:.4f}, max drop {max_drop})")
        ranking: list[Sensitivity] = []
        steps: list[ControlStep] = []
        kept: dict[str, str] = {}
        best_report = report
        if reference_score - first > max_drop:
            say("ranking layers by quantization sensitivity")
            ranking = rank_sensitivity(pre, best_path, input_name, list(validation)[:4])
            head = {f.name for f in report.float_nodes}
            groups = _merge_decode_tail(
                [s for s in ranking if not set(s.nodes) <= head],
                {t.name for t in find_decode_tail(onnx.load(str(pre)))},
            )

            def attempt(chosen: list[Sensitivity]) -> tuple[float, QuantizeReport, dict[str, str]]:
                nodes: dict[str, str] = {}
                for s in chosen:
                    for node in s.nodes:
                        nodes.setdefault(node, f"tensor {s.tensor}: int8 relative error {s.error:.3f}")
                r = quantize_int8(
                    source, trial, input_name, [], settings, nodes, cache, calibration_info, pre
                )
                return score(trial), r, nodes

            # Phase 1: return groups to float cumulatively, most sensitive first, in growing batches
            # (errors compound: one layer alone rarely shows its worth).
            chosen: list[Sensitivity] = []
            batch, budget = 1, max_steps
            while reference_score - best_score > max_drop and len(chosen) < len(groups) and budget > 0:
                group = groups[len(chosen) : len(chosen) + batch]
                chosen += group
                sc, r, nodes = attempt(chosen)
                budget -= 1
                steps.append(ControlStep(tuple(g.tensor for g in group), sc, True))
                say(f"float +{', '.join(g.tensor for g in group)} -> score {sc:.4f}")
                if sc >= best_score:
                    best_score, best_report, kept = sc, r, nodes
                    trial.replace(best_path)
                batch = min(batch * 2, 16) if len(chosen) >= 2 else 1
            # Phase 2: give back to int8 what is not needed, least sensitive first.
            if reference_score - best_score <= max_drop:
                for g in list(reversed(chosen))[: max(0, budget)]:
                    rest = [c for c in chosen if c is not g]
                    sc, r, nodes = attempt(rest)
                    ok = reference_score - sc <= max_drop
                    steps.append(ControlStep((g.tensor,), sc, not ok))
                    say(
                        f"back to int8 {g.tensor} -> score {sc:.4f}"
                        + (" (fine in int8)" if ok else " (needed in float)")
                    )
                    if ok:
                        chosen, best_score, best_report, kept = rest, sc, r, nodes
                        trial.replace(best_path)
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_bytes(best_path.read_bytes())
        best_report.output = Path(output)
        best_report.size_after = Path(output).stat().st_size
        best_report.seconds = time.perf_counter() - t0
        best_report.calibration_frames = len(calibration)  # re-quantizations reuse the cached ranges
    added = [f for f in best_report.float_nodes if f.name in kept]
    return ControlResult(
        reference_score=reference_score,
        initial_score=first,
        final_score=best_score,
        max_drop=max_drop,
        ranking=ranking,
        steps=steps,
        kept_float=added,
        report=best_report,
        met=reference_score - best_score <= max_drop,
    )
