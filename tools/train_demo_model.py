#!/usr/bin/env python
"""Train the bundled demo detector on generated frames and export it as a YOLOv8-layout ONNX model.

Needs the ``train`` extra (torch, CPU is fine):  ``pip install -e '.[train]'``  (torch==2.13.0 here).

    python tools/train_demo_model.py                      # full recipe, writes src/edgesight/demo/model.onnx
    python tools/train_demo_model.py --smoke --out /tmp/m # a few steps, to check the script works

Model: a small CNN (stride-32 backbone, a two-step top-down neck) with one anchor-free,
centre-based head at stride 8 (FCOS-style centre sampling, GIoU box loss, quality focal loss
whose target is the IoU of the predicted box). Input 192x320 (h, w) RGB in [0, 1]: the scene's
512x288 frame letterboxed exactly as edgesight (and Ultralytics) preprocess it.

Export: output ``[1, 4 + nc, N]`` with (cx, cy, w, h) in input pixels followed by nc per-class
sigmoid scores, no objectness (Ultralytics YOLOv8 layout), plus ``names``/``imgsz``/``stride``/``task``
in ``metadata_props``, so the model runs through the same decoder as any Ultralytics export.
The held-out accuracy (mAP50, mAP50-95 on scene seeds never trained on) and the recipe are written
to ``model_card.json`` beside the model.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError:  # pragma: no cover - exercised by hand
    sys.exit("tools/train_demo_model.py needs torch: pip install 'edgesight[train]' (or torch==2.13.0)")

from edgesight.demo import CLASS_NAMES
from edgesight.demo.scene import HEIGHT, WIDTH, Scene

IN_H, IN_W = 192, 320
STRIDE = 8
SCALE = IN_W / WIDTH  # 0.625: 512x288 -> 320x180
PAD_TOP = round((IN_H - round(HEIGHT * SCALE)) / 2 - 0.1)  # 6, as the letterbox computes it
NC = len(CLASS_NAMES)
TRAIN_SEED0 = 1000


# ----------------------------------------------------------------------------- model
class ConvBN(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int = 3, s: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, k, s, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
        )


class Res(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.a = ConvBN(c, c)
        self.b = nn.Sequential(nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.b(self.a(x)))


class TinyDet(nn.Module):
    """Backbone to stride 32, top-down neck to stride 8, one head: (B, 4, H/8, W/8) + (B, nc, H/8, W/8)."""

    def __init__(self, nc: int = NC, w: int = 16) -> None:
        super().__init__()
        self.s4 = nn.Sequential(ConvBN(3, w, 3, 2), ConvBN(w, 2 * w, 3, 2), Res(2 * w))
        self.s8 = nn.Sequential(ConvBN(2 * w, 3 * w, 3, 2), Res(3 * w))
        self.s16 = nn.Sequential(ConvBN(3 * w, 5 * w, 3, 2), Res(5 * w))
        self.s32 = nn.Sequential(ConvBN(5 * w, 7 * w, 3, 2), Res(7 * w))
        self.up16 = ConvBN(12 * w, 5 * w)
        self.up8 = nn.Sequential(ConvBN(8 * w, 4 * w), ConvBN(4 * w, 4 * w))
        self.box = nn.Conv2d(4 * w, 4, 1)
        self.cls = nn.Conv2d(4 * w, nc, 1)
        nn.init.constant_(self.cls.bias, -4.6)  # prior 0.01

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p8 = self.s8(self.s4(x))
        p16 = self.s16(p8)
        p32 = self.s32(p16)
        u = self.up16(torch.cat([F.interpolate(p32, scale_factor=2.0, mode="nearest"), p16], 1))
        f = self.up8(torch.cat([F.interpolate(u, scale_factor=2.0, mode="nearest"), p8], 1))
        return self.box(f), self.cls(f)


def decode_ltrb(raw: torch.Tensor) -> torch.Tensor:
    """(B, 4, h, w) raw -> (B, 4, h, w) x1, y1, x2, y2 in input pixels."""
    _, _, h, w = raw.shape
    gy, gx = torch.meshgrid(torch.arange(h, dtype=raw.dtype), torch.arange(w, dtype=raw.dtype), indexing="ij")
    cx, cy = (gx + 0.5) * STRIDE, (gy + 0.5) * STRIDE
    d = F.softplus(raw) * STRIDE
    return torch.stack([cx - d[:, 0], cy - d[:, 1], cx + d[:, 2], cy + d[:, 3]], 1)


class YoloV8Export(nn.Module):
    """Wraps TinyDet to emit Ultralytics' [1, 4 + nc, N] (cx, cy, w, h, scores) layout."""

    def __init__(self, net: TinyDet) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raw, logits = self.net(x)
        b = decode_ltrb(raw)
        cxcywh = torch.cat([(b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]], 1)
        out = torch.cat([cxcywh, torch.sigmoid(logits)], 1)
        return out.flatten(2)


# ----------------------------------------------------------------------------- data
def letterbox(img: np.ndarray) -> np.ndarray:
    canvas = np.full((IN_H, IN_W, 3), 114, np.uint8)
    nh = round(HEIGHT * SCALE)
    canvas[PAD_TOP : PAD_TOP + nh] = cv2.resize(img, (IN_W, nh), interpolation=cv2.INTER_LINEAR)
    return canvas


def to_input_boxes(rows: np.ndarray) -> np.ndarray:
    b = rows[:, :5].copy()
    b[:, :4] *= SCALE
    b[:, [1, 3]] += PAD_TOP
    return b


def sample_batch(
    scenes: list[Scene], rng: np.random.Generator, n: int
) -> tuple[np.ndarray, list[np.ndarray]]:
    imgs, targets = [], []
    while len(imgs) < n:
        sc = scenes[int(rng.integers(len(scenes)))]
        i = int(rng.integers(sc.n_frames))
        rows = sc.boxes(i)
        if len(rows) == 0 and rng.random() > 0.1:
            continue
        img = letterbox(sc.render(i))
        boxes = to_input_boxes(rows)
        # photometric jitter (lighting the generator does not cover) and horizontal flips
        g, o = rng.uniform(0.7, 1.3), rng.uniform(-20, 20)
        img = cv2.convertScaleAbs(img, alpha=g, beta=o)
        if rng.random() < 0.5:
            img = img[:, ::-1]
            boxes[:, [0, 2]] = IN_W - boxes[:, [2, 0]]
        imgs.append(cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_BGR2RGB))
        targets.append(boxes)
    x = np.stack(imgs).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
    return x, targets


def assign(boxes: np.ndarray, gh: int, gw: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre sampling: a cell is positive for the smallest box whose centre region (1.5 strides) holds it.

    Returns box targets (4, gh, gw) xyxy, class targets (nc, gh, gw) in {0, 1}, positive mask (gh, gw).
    Boxes that are near-identical (IoU > 0.8, e.g. a wrong-colour defect and its part) share cells.
    """
    tb = np.zeros((4, gh, gw), np.float32)
    tc = np.zeros((NC, gh, gw), np.float32)
    pos = np.zeros((gh, gw), bool)
    best_area = np.full((gh, gw), np.inf, np.float32)
    cy, cx = (np.mgrid[0:gh, 0:gw].astype(np.float32) + 0.5) * STRIDE
    order = np.argsort(-(boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    for k in order:
        x1, y1, x2, y2, c = boxes[k]
        bx, by = (x1 + x2) / 2, (y1 + y2) / 2
        r = 1.5 * STRIDE
        m = (
            (np.abs(cx - bx) <= max(r, 0.5 * STRIDE))
            & (np.abs(cy - by) <= max(r, 0.5 * STRIDE))
            & (cx > x1 - 2)
            & (cx < x2 + 2)
            & (cy > y1 - 2)
            & (cy < y2 + 2)
        )
        if not m.any():  # tiny box: its nearest cell
            m = np.zeros_like(pos)
            m[min(int(by // STRIDE), gh - 1), min(int(bx // STRIDE), gw - 1)] = True
        area = (x2 - x1) * (y2 - y1)
        m &= area <= best_area
        best_area[m] = area
        pos |= m
        tb[:, m] = np.array([x1, y1, x2, y2], np.float32)[:, None]
        tc[:, m] = 0
        tc[int(c), m] = 1
    # multi-label cells for near-identical boxes
    for k in range(len(boxes)):
        x1, y1, x2, y2, c = boxes[k]
        same = pos & (tc[int(c)] == 0)
        if not same.any():
            continue
        ix = np.clip(np.minimum(tb[2], x2) - np.maximum(tb[0], x1), 0, None)
        iy = np.clip(np.minimum(tb[3], y2) - np.maximum(tb[1], y1), 0, None)
        inter = ix * iy
        union = (tb[2] - tb[0]) * (tb[3] - tb[1]) + (x2 - x1) * (y2 - y1) - inter
        tc[int(c)][same & (inter / np.maximum(union, 1e-6) > 0.8)] = 1
    return tb, tc, pos


def giou(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 4) xyxy pairs -> (iou, giou)."""
    ix = (torch.min(a[:, 2], b[:, 2]) - torch.max(a[:, 0], b[:, 0])).clamp(min=0)
    iy = (torch.min(a[:, 3], b[:, 3]) - torch.max(a[:, 1], b[:, 1])).clamp(min=0)
    inter = ix * iy
    area_a = (a[:, 2] - a[:, 0]).clamp(min=0) * (a[:, 3] - a[:, 1]).clamp(min=0)
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a + area_b - inter + 1e-6
    iou = inter / union
    cw = torch.max(a[:, 2], b[:, 2]) - torch.min(a[:, 0], b[:, 0])
    ch = torch.max(a[:, 3], b[:, 3]) - torch.min(a[:, 1], b[:, 1])
    c_area = cw * ch + 1e-6
    return iou, iou - (c_area - union) / c_area


def loss_fn(
    raw: torch.Tensor, logits: torch.Tensor, targets: list[np.ndarray]
) -> tuple[torch.Tensor, dict[str, float]]:
    _bsz, _, gh, gw = raw.shape
    tbs, tcs, poss = zip(*(assign(t, gh, gw) for t in targets), strict=True)
    tb = torch.from_numpy(np.stack(tbs))
    tc = torch.from_numpy(np.stack(tcs))
    pos = torch.from_numpy(np.stack(poss))
    pred = decode_ltrb(raw)
    n_pos = max(int(pos.sum()), 1)
    pb = pred.permute(0, 2, 3, 1)[pos]
    gb = tb.permute(0, 2, 3, 1)[pos]
    iou, g = giou(pb, gb)
    box_loss = (1 - g).sum() / n_pos
    # quality focal loss: positives' target = IoU of their predicted box (detached)
    q = torch.zeros_like(logits)
    qpos = tc * 0
    qv = iou.detach().clamp(min=0.01)
    qpos.permute(0, 2, 3, 1)[pos] = tc.permute(0, 2, 3, 1)[pos] * qv[:, None]
    q = qpos
    p = torch.sigmoid(logits)
    cls_loss = (
        F.binary_cross_entropy_with_logits(logits, q, reduction="none") * (p - q).abs().pow(2)
    ).sum() / n_pos
    total = cls_loss + 2.0 * box_loss
    return total, {
        "cls": float(cls_loss.detach()),
        "box": float(box_loss.detach()),
        "iou": float(iou.detach().mean()) if len(iou) else 0.0,
    }


# ----------------------------------------------------------------------------- export
def export_onnx(net: TinyDet, path: Path) -> None:
    import onnx

    net.eval()
    wrapper = YoloV8Export(net)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.onnx")
    torch.onnx.export(
        wrapper,
        (torch.zeros(1, 3, IN_H, IN_W),),
        str(tmp),
        input_names=["images"],
        output_names=["output0"],
        opset_version=17,
        dynamo=False,
    )
    m = onnx.load(str(tmp))
    meta = {
        "description": "edgesight demo detector (synthetic industrial site), trained by tools/train_demo_model.py",
        "author": "edgesight",
        "license": "Apache-2.0",
        "task": "detect",
        "stride": "32",
        "batch": "1",
        "imgsz": str([IN_H, IN_W]),
        "names": str(dict(enumerate(CLASS_NAMES))),
    }
    del m.metadata_props[:]
    for k, v in meta.items():
        p = m.metadata_props.add()
        p.key, p.value = k, v
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    tmp.unlink()


# ----------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "src/edgesight/demo")
    ap.add_argument("--steps", type=int, default=4000, help="optimizer steps (batch --batch)")
    ap.add_argument("--minutes", type=float, default=45.0, help="stop early after this much wall time")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--scenes", type=int, default=24, help="training scene seeds 1000 .. 1000+scenes-1")
    ap.add_argument(
        "--threads", type=int, default=1, help="torch CPU threads (1 is fastest on a busy shared machine)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--smoke", action="store_true", help="a few tiny steps, quick eval: checks the script only"
    )
    ap.add_argument("--no-eval", action="store_true")
    ap.add_argument("--init", type=Path, default=None, help="start from this state dict (model_state.pt)")
    ap.add_argument("--export-only", action="store_true", help="with --init: export + evaluate, no training")
    args = ap.parse_args(argv)
    if args.smoke:
        args.steps, args.batch, args.scenes = 3, 2, 1
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    scenes = [Scene(TRAIN_SEED0 + k, 120.0) for k in range(args.scenes)]
    net = TinyDet()
    if args.init is not None:
        net.load_state_dict(torch.load(args.init, map_location="cpu", weights_only=True))
    if args.export_only:
        args.steps = 0
    state_path = Path(args.out) / "model_state.pt"
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=5e-4)
    warm = min(200, max(1, args.steps // 10))

    def lr_at(step: int) -> float:
        if step < warm:
            return args.lr * (step + 1) / warm
        # cosine over the run's progress: steps done or wall time used, whichever is further along
        done = max((step - warm) / max(1, args.steps - warm), (time.time() - t0) / (args.minutes * 60))
        return args.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, done))))

    t0 = time.time()
    step = 0
    net.train()
    log: dict[str, float] = {}
    while step < args.steps and (time.time() - t0) < args.minutes * 60:
        for gr in opt.param_groups:
            gr["lr"] = lr_at(step)
        x, tg = sample_batch(scenes, rng, args.batch)
        raw, logits = net(torch.from_numpy(x))
        loss, log = loss_fn(raw, logits, tg)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        opt.step()
        step += 1
        if step % 50 == 0 or step == 1:
            el = time.time() - t0
            print(
                f"step {step}/{args.steps} {el:.0f}s lr {lr_at(step):.2e} loss {float(loss):.3f} {log}",
                flush=True,
            )
        if step % 100 == 0:  # a killed run keeps its progress (resume with --init)
            torch.save(net.state_dict(), state_path)
    train_s = time.time() - t0
    if step:
        torch.save(net.state_dict(), state_path)
    out = Path(args.out)
    onnx_path = out / "model.onnx"
    export_onnx(net, onnx_path)
    print(
        f"exported {onnx_path} ({onnx_path.stat().st_size / 1e6:.2f} MB) after {step} steps, {train_s:.0f}s"
    )
    card = {
        "model": "model.onnx",
        "classes": list(CLASS_NAMES),
        "input": {
            "height": IN_H,
            "width": IN_W,
            "layout": "NCHW",
            "colour": "RGB",
            "range": [0, 1],
            "resize": "letterbox, pad 114",
        },
        "output": "[1, 4 + nc, N] (cx, cy, w, h input pixels, per-class sigmoid scores), N = (192/8) * (320/8) = 960",
        "architecture": "TinyDet: ReLU CNN, stride-32 backbone (widths 16-32-48-80-112), top-down neck, one centre-based head at stride 8",
        "parameters": int(sum(p.numel() for p in net.parameters())),
        "recipe": {
            "script": "tools/train_demo_model.py",
            "command": _recipe_command(argv if argv is not None else sys.argv[1:]),
            "steps": step,
            "batch": args.batch,
            "lr": args.lr,
            "optimizer": "AdamW, weight decay 5e-4, linear warm-up then cosine",
            "loss": "quality focal loss (IoU target) + 2 x GIoU, FCOS centre sampling radius 1.5 strides",
            "augment": "photometric gain 0.7-1.3 / offset +-20, horizontal flip",
            "train_scene_seeds": [TRAIN_SEED0, TRAIN_SEED0 + args.scenes - 1],
            "train_scene_seconds": 120.0,
            "torch_seed": args.seed,
            "threads": args.threads,
            "torch": torch.__version__,
            "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
            "train_seconds": round(train_s, 1),
        },
    }
    if not args.no_eval:
        from edgesight.demo.evaluate import evaluate_model

        t1 = time.time()
        kw = {"duration": 30.0, "step": 10} if args.smoke else {}
        card["accuracy"] = evaluate_model(onnx_path, **kw)
        print(f"held-out accuracy {card['accuracy']} ({time.time() - t1:.0f}s)")
    if not args.smoke or args.out != Path(__file__).resolve().parents[1] / "src/edgesight/demo":
        (out / "model_card.json").write_text(json.dumps(card, indent=2) + "\n")
    return 0


def _recipe_command(argv: list[str]) -> str:
    """The command line that reproduces this model, without ``--out`` (where it went is no part of it)."""
    kept: list[str] = []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a == "--out":
            skip = True
        elif not a.startswith("--out="):
            kept.append(a)
    return " ".join(["python tools/train_demo_model.py", *kept])


if __name__ == "__main__":
    raise SystemExit(main())
