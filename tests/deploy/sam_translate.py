"""Translate template.yaml with the SAM translator, as CloudFormation does on deploy; print the result as JSON.

Run with the SAM CLI's interpreter (.venv-sam), which carries aws-sam-translator; the tests' environment cannot
(the translator pins an older pydantic than moto's server needs). Usage:

    .venv-sam/bin/python tests/deploy/sam_translate.py template.yaml '{"ParameterName": "value", ...}'

Local CodeUri/ContentUri folders become S3 locations first, as `sam validate` does: the translator accepts
nothing else, and the artifacts' location does not change what it generates.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


class _NoManagedPolicies:
    """The template names managed policies by ARN only, so the translator never needs IAM's list."""

    def load(self) -> dict[str, str]:
        return {}


def translate(path: Path, parameters: dict[str, Any]) -> dict[str, Any]:
    from samtranslator.translator.transform import transform
    from samtranslator.yaml_helper import yaml_parse

    template: dict[str, Any] = yaml_parse(path.read_text())
    for resource in template.get("Resources", {}).values():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://artifacts/{props[key].strip('/').replace('/', '-')}.zip"
    result: dict[str, Any] = transform(template, parameters, _NoManagedPolicies())
    return result


def main(argv: list[str]) -> int:
    path = Path(argv[1])
    parameters = json.loads(argv[2]) if len(argv) > 2 else {}
    json.dump(translate(path, parameters), sys.stdout, indent=1, sort_keys=True, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
