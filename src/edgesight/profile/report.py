"""Render a `ModelProfile` / `Recommendation`: rich tables, a JSON-ready dict, and an HTML report.

The HTML report embeds a memory-timeline plot (matplotlib, the `report` extra, imported lazily) as a
base64 PNG, with the peak step named, and a per-layer table.
"""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from rich.console import Console
from rich.table import Table

from edgesight.errors import ConfigError
from edgesight.profile.fit import ModelProfile, Recommendation, TargetFit

__all__ = ["print_profile", "print_recommendation", "profile_to_dict", "recommendation_to_dict", "write_html"]

ESTIMATE_LABEL = "ESTIMATE"


def _kib(n: float) -> str:
    if n <= 0:
        return "-"
    if n >= 1 << 30:
        return f"{n / (1 << 30):.1f} GiB"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.1f} MiB"
    return f"{n / 1024:.1f} KiB"


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3g}"


def _ms(s: float) -> str:
    if s >= 1:
        return f"{s:.2f} s"
    return f"{s * 1e3:.3g} ms"


def _peak_name(p: ModelProfile) -> str:
    scope = p.plan.peak_scope
    if scope == 0:
        return "graph start (inputs)"
    op = p.graph.ops[scope - 1]
    return f"op {op.index} {op.op_type}" + (f" ({op.name})" if op.name else "")


def _fit_row(f: TargetFit) -> dict[str, Any]:
    t = f.target
    return {
        "target": t.id,
        "name": t.name,
        "kind": t.kind,
        "status": f.status,
        "ram_need_bytes": f.ram_need_bytes,
        "ram_have_bytes": f.ram_have_bytes,
        "flash_need_bytes": f.flash_need_bytes,
        "flash_have_bytes": f.flash_have_bytes,
        "latency_ms": f.latency.seconds * 1e3,
        "fps": f.latency.fps,
        "latency_kind": "calibrated estimate" if t.measured else "estimate",
        "precision": f.latency.precision,
        "energy_mj": f.energy_mj,
        "power_w": f.power_w,
        "price_usd": f.price_usd,
        "unsupported_ops": [
            {"position": u.position, "op": u.op_type, "reason": u.reason} for u in f.support.unsupported
        ],
        "support_notes": list(f.support.notes),
        "reasons": list(f.reasons),
        "assumptions": list(f.latency.assumptions),
        "sources": {k: v.source for k, v in t.figures.items()}
        | {f"peak_gops.{k}": v.source for k, v in t.peak_gops.items()},
    }


def profile_to_dict(p: ModelProfile, per_layer: bool = True) -> dict[str, Any]:
    """JSON-ready view of a profile (bytes, MACs, milliseconds)."""
    g, c = p.graph, p.cost
    out: dict[str, Any] = {
        "model": str(g.path),
        "format": g.format,
        "precision": g.precision,
        "inputs": [
            {"name": g.tensors[i].name, "shape": list(g.tensors[i].shape), "dtype": g.tensors[i].dtype}
            for i in g.inputs
        ],
        "outputs": [
            {"name": g.tensors[i].name, "shape": list(g.tensors[i].shape), "dtype": g.tensors[i].dtype}
            for i in g.outputs
        ],
        "ops": len(g.ops),
        "params": c.params,
        "constants": c.constants,
        "weight_bytes": c.weight_bytes,
        "file_bytes": g.file_bytes,
        "macs": c.macs,
        "flops": c.flops,
        "gflops": c.flops / 1e9,
        "memory_plan": {
            "planner": "TFLite Micro GreedyMemoryPlanner (reimplemented)",
            "planned_bytes": p.plan.arena_bytes,
            "lower_bound_bytes": p.plan.lower_bound,
            "peak_step": _peak_name(p),
            "live_bytes_per_step": list(p.plan.live_bytes),
        },
        "targets": [_fit_row(f) for f in p.fits],
        "mcu_verdict": p.mcu_verdict,
        "note": "latency, fps and energy for catalog targets are ESTIMATES (roofline from sourced peak figures x assumed efficiency)",
    }
    if p.arena is not None:
        out["tflm_arena"] = {
            "head_bytes": p.arena.head_bytes,
            "tail_bytes": p.arena.tail_bytes,
            "total_bytes": p.arena.total_bytes,
            "tail_parts": p.arena.parts,
        }
    if per_layer:
        out["layers"] = [
            {
                "index": r.index,
                "op": r.op_type,
                "name": r.name,
                "output_shape": list(r.output_shape),
                "macs": r.macs,
                "params": r.params,
                "weight_bytes": r.weight_bytes,
                "input_bytes": r.input_bytes,
                "output_bytes": r.output_bytes,
            }
            for r in c.ops
        ]
    return out


def print_profile(p: ModelProfile, console: Console, layers: int = 0) -> None:
    """Summary, memory plan and the per-target table; `layers` > 0 adds the heaviest layers."""
    g, c = p.graph, p.cost
    ins = ", ".join(f"{g.tensors[i].name} {list(g.tensors[i].shape)} {g.tensors[i].dtype}" for i in g.inputs)
    console.print(f"[bold]{g.path.name}[/] ({g.format}, {g.precision}): {len(g.ops)} ops, input {ins}")
    console.print(
        f"parameters {c.params:,} | weights {_kib(c.weight_bytes)} | file {_kib(g.file_bytes)} | "
        f"MACs {c.macs / 1e6:,.1f} M | FLOPs (2 x MACs) {c.flops / 1e9:.3g} G"
    )
    console.print(
        f"activation plan (TFLM greedy): {_kib(p.plan.arena_bytes)}, lower bound {_kib(p.plan.lower_bound)}, "
        f"peak at {_peak_name(p)}"
    )
    if p.arena is not None:
        console.print(
            f"TFLM arena: {p.arena.total_bytes:,} B = planned head {p.arena.head_bytes:,} B (exact) + "
            f"persistent tail {p.arena.tail_bytes:,} B (modelled)"
        )
    table = Table(title=f"Fit per target (latency/fps/energy are {ESTIMATE_LABEL}S)", show_lines=False)
    for col in (
        "target",
        "fits",
        "RAM need / have",
        "flash need / have",
        "latency",
        "fps",
        "mJ/inf",
        "W",
        "USD",
        "unsupported ops / why not",
    ):
        table.add_column(col, overflow="fold")
    for f in p.fits:
        style = {"fits": "green", "partial": "yellow", "no": "red"}[f.status]
        unsupported = ", ".join(f"{u.op_type}@{u.position}" for u in f.support.unsupported[:4])
        why = "; ".join(f.reasons) if f.status != "fits" else unsupported
        lat = _ms(f.latency.seconds) + (" (calibrated est.)" if f.target.measured else " (est.)")
        table.add_row(
            f.target.id,
            f"[{style}]{f.status}[/]",
            f"{_kib(f.ram_need_bytes)} / {_kib(f.ram_have_bytes)}",
            f"{_kib(f.flash_need_bytes)} / {_kib(f.flash_have_bytes)}" if f.flash_have_bytes else "-",
            lat,
            f"{f.latency.fps:.3g}",
            f"{f.energy_mj:.3g}" if f.energy_mj is not None else "-",
            f"{f.power_w:g}" if f.power_w else "-",
            f"{f.price_usd:g}" if f.price_usd else "-",
            why or "-",
        )
    console.print(table)
    if p.mcu_verdict:
        console.print(f"[bold red]{p.mcu_verdict}[/]", highlight=False)
    console.print(
        "[dim]Latency/fps/energy: ESTIMATES (roofline: catalog peak x assumed efficiency, per-op memory traffic); "
        "each target's assumptions and figure sources are in --json and --html.[/]"
    )
    if layers > 0:
        lt = Table(title=f"Heaviest {layers} layers by MACs")
        for col in ("#", "op", "output", "MACs", "params"):
            lt.add_column(col)
        for r in sorted(c.ops, key=lambda r: -r.macs)[:layers]:
            lt.add_row(str(r.index), r.op_type, str(list(r.output_shape)), f"{r.macs:,}", f"{r.params:,}")
        console.print(lt)


def recommendation_to_dict(
    r: Recommendation, fps: float, max_watts: float | None, max_price: float | None
) -> dict[str, Any]:
    return {
        "requirements": {"fps": fps, "max_watts": max_watts, "max_price_usd": max_price},
        "explanation": r.explanation,
        "ranked": [
            _fit_row(f) | {"rank": i + 1, "headroom": f.latency.fps / fps} for i, f in enumerate(r.ranked)
        ],
        "rejected": [{"target": f.target.id, "reason": why} for f, why in r.rejected],
        "suggestions": list(r.suggestions),
    }


def print_recommendation(r: Recommendation, fps: float, console: Console) -> None:
    console.print(r.explanation)
    if r.ranked:
        table = Table(title="Recommended (fps, latency, energy are ESTIMATES)")
        for col in (
            "#",
            "target",
            "est. fps",
            "headroom",
            "USD (incl. host)",
            "W (incl. host)",
            "mJ/inference",
            "runs as",
        ):
            table.add_column(col, overflow="fold")
        for i, f in enumerate(r.ranked):
            head = f.latency.fps / fps
            table.add_row(
                str(i + 1),
                f"{f.target.id}\n[dim]{f.target.name}[/]",
                f"{f.latency.fps:.3g}",
                f"{head:.1f}x" + (" [yellow]tight[/]" if head < 2 else ""),
                f"{f.price_usd:g}" if f.price_usd is not None else "-",
                f"{f.power_w:g}" if f.power_w is not None else "-",
                f"{f.energy_mj:.3g}" if f.energy_mj is not None else "-",
                f"{f.latency.precision}" + (" (partial: some ops on CPU)" if f.status == "partial" else ""),
            )
        console.print(table)
        for i, f in enumerate(r.ranked):
            console.print(f"[bold]{i + 1}. {f.target.id}[/]: {_why(f, fps)}", highlight=False)
    else:
        console.print("[bold red]No target in the catalog meets every requirement.[/]")
    rej = Table(title="Not recommended", show_header=True)
    rej.add_column("target")
    rej.add_column("why", overflow="fold")
    for f, why in r.rejected:
        rej.add_row(f.target.id, why)
    console.print(rej)
    for s in r.suggestions:
        console.print(f"[bold]suggestion:[/] {s}")


def _why(f: TargetFit, fps: float) -> str:
    """One line on why a target qualifies: estimate, headroom, cost, and what the estimate rests on."""
    t = f.target
    prec = f.latency.precision
    peak = t.peak_gops.get(prec)
    eff = t.figures.get("efficiency")
    parts = [
        f"~{f.latency.fps:.3g} fps estimated ({f.latency.fps / fps:.1f}x the {fps:g} fps needed)",
        f"${f.price_usd:g}" if f.price_usd is not None else "price n/a",
        f"{f.power_w:g} W" if f.power_w is not None else "power n/a",
        *f.latency.assumptions[1:2],
    ]
    if peak is not None and not t.measured:
        parts.append(f"{prec} peak {peak.value:g} GOPS ({peak.source})")
    if eff is not None and not t.measured:
        parts.append(f"efficiency {eff.value:g} ({eff.source})")
    if t.requires_host:
        parts.append(f"needs a {t.requires_host} host (included in price/power)")
    return "; ".join(parts)


def _timeline_png(p: ModelProfile) -> bytes:
    try:
        import matplotlib
    except ImportError as exc:
        raise ConfigError("--html needs matplotlib: pip install 'edgesight[report]'") from exc

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    live = p.plan.live_bytes
    fig, ax = plt.subplots(figsize=(10, 3.2), dpi=100)
    ax.fill_between(
        range(len(live)), [b / 1024 for b in live], step="mid", alpha=0.5, label="live activations"
    )
    ax.axhline(p.plan.arena_bytes / 1024, color="red", lw=1, ls="--", label="planned arena (greedy)")
    peak = p.plan.peak_scope
    ax.annotate(
        f"peak: {_peak_name(p)}\n{live[peak] / 1024:.1f} KiB",
        xy=(peak, live[peak] / 1024),
        xytext=(0.6, 0.85),
        textcoords="axes fraction",
        arrowprops={"arrowstyle": "->"},
        fontsize=8,
    )
    ax.set_xlabel("step (0 = graph start, i + 1 = op i)")
    ax.set_ylabel("KiB")
    ax.set_title("Activation memory timeline")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def write_html(p: ModelProfile, path: str) -> None:
    """Write a self-contained HTML report (per-target fit, per-layer breakdown, memory timeline)."""
    d = profile_to_dict(p)
    png = base64.b64encode(_timeline_png(p)).decode()
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(t['target'])}</td><td class='{t['status']}'>{t['status']}</td>"
        f"<td>{_kib(t['ram_need_bytes'])} / {_kib(t['ram_have_bytes'])}</td>"
        f"<td>{_kib(t['flash_need_bytes'])} / {_kib(t['flash_have_bytes'])}</td>"
        f"<td>{t['latency_ms']:.3g} ms ({esc(t['latency_kind'])})</td><td>{t['fps']:.3g}</td>"
        f"<td>{_num(t['energy_mj'])}</td>"
        f"<td>{esc('; '.join(t['reasons']) or ', '.join(u['op'] + '@' + str(u['position']) for u in t['unsupported_ops']))}</td>"
        f"<td><details><summary>assumptions</summary>{esc(' | '.join(t['assumptions']))}<br>"
        f"sources: {esc('; '.join(f'{k}: {v}' for k, v in t['sources'].items()))}</details></td></tr>"
        for t in d["targets"]
    )
    live = p.plan.live_bytes
    layers = "".join(
        f"<tr><td>{r['index']}</td><td>{esc(r['op'])}</td><td>{esc(r['name'])}</td><td>{r['output_shape']}</td>"
        f"<td>{r['macs']:,}</td><td>{r['params']:,}</td><td>{r['output_bytes']:,}</td>"
        f"<td>{live[r['index'] + 1] if r['index'] + 1 < len(live) else 0:,}</td></tr>"
        for r in d["layers"]
    )
    arena = ""
    if p.arena is not None:
        parts = ", ".join(f"{k} {v:,} B" for k, v in p.arena.parts.items())
        arena = (
            f"<p>TFLite Micro arena: <b>{p.arena.total_bytes:,} B</b> = planned head {p.arena.head_bytes:,} B "
            f"(exact, GreedyMemoryPlanner) + persistent tail {p.arena.tail_bytes:,} B (modelled: {esc(parts)})</p>"
        )
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>edgesight profile: {esc(p.graph.path.name)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:3px 6px}}.fits{{color:green}}.partial{{color:#b80}}.no{{color:#c00}}</style></head><body>
<h1>{esc(p.graph.path.name)}</h1>
<p>{esc(d["format"])}, {esc(d["precision"])}, {d["ops"]} ops, {d["params"]:,} parameters, {d["macs"]:,} MACs
({d["gflops"]:.3g} GFLOPs = 2 x MACs), weights {_kib(d["weight_bytes"])}, file {_kib(d["file_bytes"])}</p>
{arena}
{f'<p class="no"><b>{esc(p.mcu_verdict)}</b></p>' if p.mcu_verdict else ""}
<h2>Memory timeline</h2><p>Planned activations {p.plan.arena_bytes:,} B, lower bound {p.plan.lower_bound:,} B,
peak at <b>{esc(_peak_name(p))}</b>.</p>
<img alt="memory timeline" src="data:image/png;base64,{png}">
<h2>Targets</h2><p><b>Latency, fps and energy are ESTIMATES</b> except where marked calibrated: roofline from the
catalog's sourced peak figures x an assumed efficiency.</p>
<table><tr><th>target</th><th>fits</th><th>RAM need / have</th><th>flash need / have</th><th>latency</th><th>fps</th>
<th>mJ/inference</th><th>why not / unsupported ops</th><th>assumptions &amp; sources</th></tr>{rows}</table>
<h2>Per-layer breakdown</h2>
<table><tr><th>#</th><th>op</th><th>name</th><th>output</th><th>MACs</th><th>params</th><th>output bytes</th><th>live bytes</th></tr>{layers}</table>
</body></html>"""
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(doc)
