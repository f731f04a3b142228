"""The backfill state machine: its definition's states and wiring, what each Task calls, the events it sends the
function (accepted by the same parser as every other event), its role, and no circular dependency."""

from __future__ import annotations

import fnmatch
import json
import re
from typing import Any

import pytest

from kaltura_export.events import PlanRequest, SummaryRequest, UnitRequest, parse_event
from kaltura_export.fanout import plan_prefix
from tests.deploy.cfn import ACCOUNT, REGION, STACK, Stack, statements
from tests.deploy.conftest import REQUIRED
from tests.deploy.test_template import refs

MACHINE = "BackfillStateMachine"
ROLE = "BackfillStateMachineRole"


def definition(template: dict[str, Any]) -> dict[str, Any]:
    props = template["Resources"][MACHINE]["Properties"]
    assert isinstance(props["Definition"], dict), "Definition must be an object, so cfn-lint validates it"
    assert "DefinitionString" not in props and "DefinitionUri" not in props
    result: dict[str, Any] = props["Definition"]
    return result


def targets(state: dict[str, Any]) -> set[str]:
    out = {state[k] for k in ("Next", "Default") if k in state}
    out |= {c["Next"] for c in state.get("Choices", [])}
    out |= {c["Next"] for c in state.get("Catch", [])}
    return out


def check_graph(machine: dict[str, Any]) -> None:
    """Every target exists, every state is reachable from StartAt, and only terminal states end."""
    states = machine["States"]
    assert machine["StartAt"] in states
    seen, todo = set(), [machine["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        state = states[name]
        nexts = targets(state)
        assert nexts <= set(states), f"{name} points at {nexts - set(states)}"
        ends = state.get("End") is True or state["Type"] in ("Succeed", "Fail")
        assert ends or nexts, f"{name} neither ends nor goes anywhere"
        todo += list(nexts)
    assert seen == set(states), f"unreachable: {set(states) - seen}"


def substitute(node: Any, values: dict[str, str]) -> Any:
    """DefinitionSubstitutions, as Step Functions applies them."""
    if isinstance(node, dict):
        return {k: substitute(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [substitute(v, values) for v in node]
    if isinstance(node, str):
        return re.sub(r"\$\{(\w+)\}", lambda m: values[m.group(1)], node)
    return node


def payload(parameters: dict[str, Any], state: dict[str, Any], context: dict[str, Any]) -> Any:
    """A Task's Parameters evaluated for one state input (the few JSONPath forms the definition uses)."""

    def path(expr: str) -> Any:
        root, rest = (context, expr[2:]) if expr.startswith("$$.") else (state, expr[1:].lstrip("."))
        value: Any = root
        for part in filter(None, rest.split(".")):
            value = value[part]
        return value

    if isinstance(parameters, dict):
        return {
            (k[:-2] if k.endswith(".$") else k): (path(v) if k.endswith(".$") else payload(v, state, context))
            for k, v in parameters.items()
        }
    return parameters


@pytest.fixture
def machine(deployed: Stack, template: dict[str, Any]) -> dict[str, Any]:
    values = {k: str(v) for k, v in deployed.properties(MACHINE)["DefinitionSubstitutions"].items()}
    result: dict[str, Any] = substitute(definition(template), values)
    return result


def test_a_standard_machine_with_a_fixed_name_and_its_own_role(deployed: Stack, template: dict[str, Any]) -> None:
    props = deployed.properties(MACHINE)
    assert template["Resources"][MACHINE]["Type"] == "AWS::StepFunctions::StateMachine"
    assert props["StateMachineType"] == "STANDARD"
    assert props["StateMachineName"] == f"{STACK}-backfill"
    assert props["RoleArn"] == deployed.get_att(ROLE, "Arn")
    # the function never refers to the machine: no circular dependency
    assert MACHINE not in refs(template["Resources"]["ExportFunction"]) and MACHINE not in json.dumps(
        template["Resources"]["ExportFunction"]
    )
    assert MACHINE not in json.dumps(template["Resources"][ROLE])


def test_states_and_their_wiring(template: dict[str, Any]) -> None:
    machine = definition(template)
    check_graph(machine)
    states = machine["States"]
    assert machine["StartAt"] == "Plan"
    assert states["Plan"]["Next"] == "Units" and states["Units"]["Next"] == "Summary"
    assert states["Units"]["Catch"] == [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.map", "Next": "Summary"}]
    assert states["Summary"]["Next"] == "Verdict"
    assert {c["Next"] for c in states["Verdict"]["Choices"]} | {states["Verdict"]["Default"]} == {"Done", "Failed"}
    assert states["Done"]["Type"] == "Succeed" and states["Failed"]["Type"] == "Fail"
    units = states["Units"]
    assert units["Type"] == "Map" and units["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",
    }
    assert units["ItemReader"]["Resource"] == "arn:aws:states:::s3:getObject"
    assert units["ItemReader"]["Parameters"] == {"Bucket.$": "$.plan.bucket", "Key.$": "$.plan.key"}
    assert units["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"
    assert units["MaxConcurrencyPath"] == "$.plan.max_concurrency"
    check_graph(units["ItemProcessor"])
    (retry,) = units["ItemProcessor"]["States"]["ExportUnit"]["Retry"]
    assert "Lambda.TooManyRequestsException" in retry["ErrorEquals"]
    assert retry["BackoffRate"] > 1 and retry["MaxAttempts"] >= 3 and retry["JitterStrategy"] == "FULL"


def test_every_task_runs_the_export_function(
    deployed: Stack, template: dict[str, Any], machine: dict[str, Any]
) -> None:
    subs = template["Resources"][MACHINE]["Properties"]["DefinitionSubstitutions"]
    # each substitution is a template resource or parameter, never a hard-coded ARN
    for name, value in subs.items():
        assert refs(value) or "Fn::GetAtt" in value, name
        for ref in refs(value) | ({value["Fn::GetAtt"][0]} if "Fn::GetAtt" in value else set()):
            assert ref in template["Resources"] or ref in template["Parameters"], (name, ref)
    assert subs["ExportFunctionArn"] == {"Fn::GetAtt": ["ExportFunction", "Arn"]}
    function_arn = deployed.get_att("ExportFunction", "Arn")
    tasks = [machine["States"][n] for n in ("Plan", "Summary")] + [
        machine["States"]["Units"]["ItemProcessor"]["States"]["ExportUnit"]
    ]
    for task in tasks:
        assert task["Resource"] == "arn:aws:states:::lambda:invoke"
        assert task["Parameters"]["FunctionName"] == function_arn
    bucket = deployed.ref("ExportBucket")
    assert machine["States"]["Units"]["ResultWriter"]["Parameters"]["Bucket"] == bucket


def test_the_events_it_sends_are_the_functions_events(machine: dict[str, Any]) -> None:
    """Walk one execution on paper: each payload passes the handler's own validation."""
    context = {"Execution": {"Name": "backfill-2025"}}
    state: dict[str, Any] = {"from": "2025-01-01", "to": "2025-12-31", "reports": ["attendees"]}
    plan_event = payload(machine["States"]["Plan"]["Parameters"]["Payload"], state, context)
    plan = parse_event(plan_event)
    assert isinstance(plan, PlanRequest)
    assert (plan.plan_id, plan.max_concurrency, plan.reserved_concurrency) == ("backfill-2025", 2, 0)
    assert plan.manual.reports is not None and [r.name for r in plan.manual.reports] == ["attendees"]

    # the plan's answer, as fanout.plan returns it, goes through ResultSelector into $.plan
    answer = {
        "Payload": {
            "plan_id": "backfill-2025",
            "bucket": "b",
            "key": "kaltura/_backfill/backfill-2025/units.json",
            "results_prefix": "kaltura/_backfill/backfill-2025/results",
            "units": 1,
            "max_concurrency": 2,
        }
    }
    state["plan"] = payload(machine["States"]["Plan"]["ResultSelector"], answer, context)
    assert state["plan"] == answer["Payload"]
    item = {
        "mode": "unit",
        "report": "attendees",
        "partner_id": 4242,
        "window_start": "2025-01-01T00:00:00Z",
        "window_end": "2025-01-02T00:00:00Z",
    }
    unit_task = machine["States"]["Units"]["ItemProcessor"]["States"]["ExportUnit"]
    assert isinstance(parse_event(payload(unit_task["Parameters"], item, context)["Payload"]), UnitRequest)
    for outcome in ({"MapRunArn": "arn", "ResultWriterDetails": {"Bucket": "b", "Key": "k"}}, {"Error": "E"}):
        state["map"] = outcome
        summary = parse_event(payload(machine["States"]["Summary"]["Parameters"]["Payload"], state, context))
        assert isinstance(summary, SummaryRequest) and summary.plan_id == "backfill-2025"


def test_the_role_reaches_exactly_the_function_its_own_map_and_the_backfill_prefix(template: dict[str, Any]) -> None:
    stack = Stack(template, REQUIRED | {"ExportBucketName": "analytics-landing", "ExportPrefix": "exports/kaltura"})
    props = stack.properties(ROLE)
    assert props["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "states.amazonaws.com"}
    found = {s["Sid"]: s for p in props["Policies"] for s in statements(p["PolicyDocument"])}
    assert set(found) == {
        "InvokeExportFunction",
        "RunTheMapsChildExecutions",
        "WatchTheMapsChildExecutions",
        "ReadThePlanWriteTheResults",
    }
    assert found["InvokeExportFunction"]["Resource"] == [stack.get_att("ExportFunction", "Arn")]
    own = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{stack.properties(MACHINE)['StateMachineName']}"
    assert found["RunTheMapsChildExecutions"]["Resource"] == [own]
    (children,) = found["WatchTheMapsChildExecutions"]["Resource"]
    assert fnmatch.fnmatchcase(f"arn:aws:states:{REGION}:{ACCOUNT}:execution:{STACK}-backfill/Units:abc", children)
    (objects,) = found["ReadThePlanWriteTheResults"]["Resource"]
    base = plan_prefix("exports/kaltura", "backfill-2025")
    for key in (base + "units.json", base + "results/abc/manifest.json"):
        assert fnmatch.fnmatchcase(f"arn:aws:s3:::analytics-landing/{key}", objects)
    assert not fnmatch.fnmatchcase("arn:aws:s3:::analytics-landing/exports/kaltura/rooms/x.csv", objects)
    for statement in found.values():
        assert all("*" not in a for a in statement["Action"])
