"""Generate docs/config.md from the pydantic pipeline models (the config documents itself).

Usage: python tools/gen_config_docs.py [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edgesight.config import PipelineConfig

OUT = Path(__file__).resolve().parents[1] / "docs" / "config.md"


def _type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return f"[{prop['$ref'].split('/')[-1]}](#{prop['$ref'].split('/')[-1].lower()})"
    if "const" in prop:
        return f"`{prop['const']}`"
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    for key in ("anyOf", "oneOf"):
        if key in prop:
            return " \\| ".join(_type(p) for p in prop[key])
    t = prop.get("type", "any")
    if t == "array":
        items = prop.get("items") or {}
        if "prefixItems" in prop:
            return "[" + ", ".join(_type(p) for p in prop["prefixItems"]) + "]"
        return f"list[{_type(items)}]"
    if t == "object" and "additionalProperties" in prop and isinstance(prop["additionalProperties"], dict):
        return f"map[str, {_type(prop['additionalProperties'])}]"
    return str(t)


def render() -> str:
    schema = PipelineConfig.model_json_schema()
    defs = schema.pop("$defs", {})
    models = {"PipelineConfig": schema, **dict(sorted(defs.items()))}
    out = [
        "# Pipeline configuration reference",
        "",
        "Generated from the pydantic models by `python tools/gen_config_docs.py`; do not edit by hand.",
        "Validate a file with `edgesight config check FILE`; print the JSON schema with `edgesight config schema`.",
        "Unknown keys are errors. `type` selects the variant of sources, backends and rules.",
        "",
    ]
    for name, model in models.items():
        props = model.get("properties")
        if not props:
            continue
        required = set(model.get("required", []))
        out += [f"## {name}", ""]
        if model.get("description"):
            out += [model["description"].strip(), ""]
        out += ["| key | type | default | description |", "|---|---|---|---|"]
        for key, prop in props.items():
            if key in required:
                default = "**required**"
            elif "default" in prop:
                default = f"`{json.dumps(prop['default'])}`"
            else:
                default = "(defaults)"
            desc = (prop.get("title", "") + ": " if prop.get("title") else "") + prop.get("description", "")
            out.append(f"| `{key}` | {_type(prop)} | {default} | {desc.replace('|', '/')} |")
        out.append("")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="Exit 1 if docs/config.md is out of date.")
    args = ap.parse_args()
    text = render()
    if args.check:
        if not OUT.is_file() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python tools/gen_config_docs.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
