"""Attendee's published OpenAPI file, with the corrections the API reference makes to it.

The file lives in the shared reference folder next to the checkout (``../shared/reference/``), or
at ``/work/shared/reference/`` on the developers' machine. A missing file fails the tests that use
it (reading it raises): the comparison with Attendee is not optional.

Where the file and the API reference (which follows Attendee's code) disagree, the reference wins;
each such correction is listed in ``REFERENCE_CORRECTIONS``.
"""

import copy
from functools import cache
from pathlib import Path
from typing import Any

import yaml

OPENAPI_FILE = Path("/work/shared/reference/attendee-openapi.yml")
if not OPENAPI_FILE.exists():  # the reference lives next to the checkout
    OPENAPI_FILE = Path(__file__).resolve().parents[3] / "shared/reference/attendee-openapi.yml"

NULLABLE = {"nullable": True}
# (schema, property) -> replacement, each one where the reference says the file is wrong.
REFERENCE_CORRECTIONS: dict[tuple[str, str], dict[str, Any]] = {
    # §4/§6: a bot without join_at / deduplication_key returns null for them.
    ("Bot", "join_at"): {"type": "string", "format": "date-time", **NULLABLE},
    ("Bot", "deduplication_key"): {"type": "string", **NULLABLE},
    # §7: metadata may be null (it is optional at creation).
    ("Bot", "metadata"): {"type": "object", **NULLABLE},
    # §4: *_state come from the default recording, "null if none".
    ("Bot", "transcription_state"): {
        "allOf": [{"$ref": "#/components/schemas/TranscriptionStateEnum"}],
        **NULLABLE,
    },
    ("Bot", "recording_state"): {
        "allOf": [{"$ref": "#/components/schemas/RecordingStateEnum"}],
        **NULLABLE,
    },
    # §4: timestamp_ms is epoch milliseconds (= timestamp * 1000), an integer, not a string.
    ("ChatMessage", "timestamp_ms"): {"type": "integer"},
    # §4: Recording start_timestamp_ms is "int|null" (null before the first audio buffer).
    ("Recording", "start_timestamp_ms"): {"type": "integer", **NULLABLE},
}


@cache
def corrected_document() -> dict[str, Any]:
    """The whole OpenAPI document (3.0, ``nullable`` as written) with the corrections applied."""
    document = yaml.safe_load(OPENAPI_FILE.read_text())
    schemas = document["components"]["schemas"]
    for (schema, prop), replacement in REFERENCE_CORRECTIONS.items():
        assert prop in schemas[schema]["properties"], (schema, prop)
        schemas[schema]["properties"][prop] = copy.deepcopy(replacement)
    return document


def to_json_schema(node: Any) -> Any:
    """OpenAPI 3.0 ``nullable`` to JSON Schema; everything else is already JSON Schema."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: to_json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out
