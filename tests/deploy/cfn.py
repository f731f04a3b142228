"""Read template.yaml and evaluate its intrinsic functions the way CloudFormation would, for one set of parameters.

Enough of CloudFormation for the deploy tests to ask concrete questions ("which bucket does the policy name when
ExportBucketName is set?", "what does KALTURA_SECRET_ARN hold with two secrets?"): Ref, Fn::GetAtt, Fn::Sub,
Fn::If, Fn::Join, Fn::Select, Fn::Split, Fn::Equals/Not/And/Or, Condition and AWS::NoValue. Resources get
plausible physical ids (a topic's Ref is an ARN, a queue's Ref a URL, a bucket's a name).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"

ACCOUNT = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"
STACK = "kaltura-export"


class _Loader(yaml.SafeLoader):
    """PyYAML with CloudFormation's short tags (!Ref, !Sub, !GetAtt...) read as their long JSON forms."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix in ("Ref", "Condition"):
        return {suffix: value}
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open() as f:
        template: dict[str, Any] = yaml.load(f, _Loader)
    return template


class _NoValue:
    """AWS::NoValue: removes the property or list item it stands in."""


NO_VALUE = _NoValue()


@dataclass
class Stack:
    """A template deployed (on paper) with ``parameters``; ``resolve`` evaluates any part of it."""

    template: dict[str, Any]
    parameters: Mapping[str, str] = field(default_factory=dict)
    name: str = STACK

    def __post_init__(self) -> None:
        declared = self.template.get("Parameters", {})
        unknown = set(self.parameters) - set(declared)
        if unknown:
            raise KeyError(f"not parameters of the template: {sorted(unknown)}")
        self.values: dict[str, Any] = {}
        for name, spec in declared.items():
            if name in self.parameters:
                raw = str(self.parameters[name])
            elif "Default" in spec:
                raw = str(spec["Default"])
            else:
                raise KeyError(f"parameter {name} has no default: give it a value")
            self.values[name] = [v.strip() for v in raw.split(",")] if spec["Type"] == "CommaDelimitedList" else raw
        self.values |= {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION,
            "AWS::Partition": PARTITION,
            "AWS::StackName": self.name,
            "AWS::URLSuffix": "amazonaws.com",
        }
        self._conditions: dict[str, bool] = {}

    # --- the template's parts --------------------------------------------------------------------------
    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.template["Resources"]
        return resources

    def exists(self, logical_id: str) -> bool:
        condition = self.resources[logical_id].get("Condition")
        return condition is None or self.condition(condition)

    def of_type(self, kind: str) -> dict[str, dict[str, Any]]:
        """Resources of ``kind`` that this deployment creates."""
        return {k: r for k, r in self.resources.items() if r["Type"] == kind and self.exists(k)}

    def properties(self, logical_id: str) -> dict[str, Any]:
        resolved: dict[str, Any] = self.resolve(self.resources[logical_id].get("Properties", {}))
        return resolved

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            self._conditions[name] = bool(self.resolve(self.template["Conditions"][name]))
        return self._conditions[name]

    # --- physical ids ---------------------------------------------------------------------------------
    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.values:
            return self.values[name]
        resource = self.resources[name]
        kind, props = resource["Type"], resource.get("Properties", {})
        suffix = f"{self.name}-{name}-EXAMPLE1"
        if kind == "AWS::SNS::Topic":
            return f"arn:{PARTITION}:sns:{REGION}:{ACCOUNT}:{suffix}"
        if kind == "AWS::SQS::Queue":
            return f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{suffix}"
        if kind == "AWS::KMS::Key":
            return "1234abcd-12ab-34cd-56ef-1234567890ab"
        if kind == "AWS::S3::Bucket":
            return suffix.lower()
        if kind == "AWS::Glue::Database":
            return self.resolve(props["DatabaseInput"]["Name"])
        if kind == "AWS::Athena::WorkGroup":
            return self.resolve(props["Name"])
        if kind == "AWS::Logs::LogGroup" and "LogGroupName" in props:
            return self.resolve(props["LogGroupName"])
        return suffix

    def get_att(self, name: str, attribute: str) -> Any:
        kind = self.resources[name]["Type"]
        ref = self.ref(name)
        if attribute == "Arn":
            return {
                "AWS::SQS::Queue": f"arn:{PARTITION}:sqs:{REGION}:{ACCOUNT}:{self.name}-{name}-EXAMPLE1",
                "AWS::KMS::Key": f"arn:{PARTITION}:kms:{REGION}:{ACCOUNT}:key/{ref}",
                "AWS::S3::Bucket": f"arn:{PARTITION}:s3:::{ref}",
                "AWS::Serverless::Function": f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{ref}",
                "AWS::Lambda::Function": f"arn:{PARTITION}:lambda:{REGION}:{ACCOUNT}:function:{ref}",
                "AWS::IAM::Role": f"arn:{PARTITION}:iam::{ACCOUNT}:role/{ref}",
            }[kind]
        if attribute == "QueueName" and kind == "AWS::SQS::Queue":
            return f"{self.name}-{name}-EXAMPLE1"
        if attribute == "TopicName" and kind == "AWS::SNS::Topic":
            return f"{self.name}-{name}-EXAMPLE1"
        raise KeyError(f"{name}.{attribute} is not modelled")

    # --- intrinsic functions --------------------------------------------------------------------------
    def resolve(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self.resolve(i) for i in node]
            return [i for i in items if i is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::GetAtt":
                name, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(name, attribute)
            if key == "Fn::Sub":
                return self._sub(arg)
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            if key == "Fn::Join":
                delimiter, items = arg
                return delimiter.join(str(i) for i in self.resolve(items))
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                delimiter, text = arg
                return str(self.resolve(text)).split(delimiter)
            if key == "Fn::Equals":
                a, b = (self.resolve(x) for x in arg)
                return str(a) == str(b)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(x) for x in arg)
            if key == "Fn::Or":
                return any(self.resolve(x) for x in arg)
            if key.startswith("Fn::"):
                raise KeyError(f"{key} is not modelled")
        out = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    def _sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], self.resolve(arg[1]))

        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name:
                return str(self.get_att(*name.split(".", 1)))
            resolved = self.ref(name)
            return ",".join(resolved) if isinstance(resolved, list) else str(resolved)

        return re.sub(r"\$\{([^}]+)\}", value, text)


def statements(policy_document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A policy's statements with Action and Resource always lists, for comparison."""
    out = []
    for statement in policy_document["Statement"]:
        s = dict(statement)
        for key in ("Action", "Resource"):
            if key in s and not isinstance(s[key], list):
                s[key] = [s[key]]
        out.append(s)
    return out


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str)
