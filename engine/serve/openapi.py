"""The service's OpenAPI document, with the JSON Schemas it refers to bundled in.

``schemas/openapi.json`` refers to ``incident.schema.json`` and ``decision.schema.json`` by
``$ref`` (one source of truth); :func:`openapi_document` serves it self-contained.
"""

from __future__ import annotations

import importlib.resources
import json
from typing import Any

SCHEMA_COMPONENTS = {"incident.schema.json": "Incident", "decision.schema.json": "Decision"}
"""The JSON Schemas ``schemas/openapi.json`` refers to, and their bundled component names."""


def openapi_document() -> dict[str, Any]:
    """``schemas/openapi.json`` with the incident and decision schemas bundled in.

    Each ``{"$ref": "<name>.schema.json"}`` becomes a reference to a component holding that
    schema, whose own ``#/$defs/...`` references are rewritten to point inside it.
    """
    folder = importlib.resources.files("alertpolicy.schemas")
    document = json.loads((folder / "openapi.json").read_text(encoding="utf-8"))
    components = document["components"]["schemas"]
    for file, name in SCHEMA_COMPONENTS.items():
        schema = json.loads((folder / file).read_text(encoding="utf-8"))
        schema.pop("$id", None)
        schema.pop("$schema", None)
        components[name] = _rewrite_refs(schema, {"#/": f"#/components/schemas/{name}/"})
    refs = {file: f"#/components/schemas/{name}" for file, name in SCHEMA_COMPONENTS.items()}
    bundled: dict[str, Any] = _rewrite_refs(document, refs)
    return bundled


def _rewrite_refs(node: Any, prefixes: dict[str, str]) -> Any:
    """``node`` with every ``$ref`` starting with a key of ``prefixes`` re-prefixed."""
    if isinstance(node, list):
        return [_rewrite_refs(item, prefixes) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _rewrite_refs(value, prefixes) for key, value in node.items()}
    ref = out.get("$ref")
    if isinstance(ref, str):
        for old, new in prefixes.items():
            if ref == old or (ref.startswith(old) and old.endswith("/")):
                out["$ref"] = new + ref[len(old) :]
                break
    return out
