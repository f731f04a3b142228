"""template.yaml against the code's contracts: catalogue, layout, settings, events, metrics (no AWS, no build)."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from kaltura_export.catalogue import REPORTS
from kaltura_export.events import ScheduledRequest, parse_event
from kaltura_export.layout import data_key
from kaltura_export.settings import Settings
from kaltura_export.windows import Period, manual_windows
from tests.conftest import load_event
from tests.deploy.cfn import ROOT, Stack
from tests.deploy.conftest import REQUIRED, need_module

#: DESIGN.md "Configuration": every variable of the function, each from a Parameter
DESIGN_VARIABLES = {
    # HEAL_LIMIT: the self-healing bound the backfill issue added to DESIGN.md's variables
    "HEAL_LIMIT",
    "KALTURA_SERVICE_URL",
    "KALTURA_SECRET_ARN",
    "KALTURA_SECRET_ARNS",
    "EXPORT_BUCKET",
    "EXPORT_PREFIX",
    "NOTIFY_TOPIC_ARN",
    "REPORTS",
    "PERIOD",
    "TIMEZONE",
    "LOOKBACK",
    "ENTRY_IDS",
    "VIRTUAL_EVENT_IDS",
    "USER_IDS",
    "CUE_POINT_IDS",
    "EXCLUDED_FIELDS",
    "MAX_CONCURRENCY",
    "ROW_CAP",
    "KALTURA_TIMEOUT",
    "RETRY_BASE_DELAY",
    # SHRINK_THRESHOLD: the shrinking re-export warning of the fault-handling issue
    "SHRINK_THRESHOLD",
}
POWERTOOLS_VARIABLES = {"POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE", "POWERTOOLS_LOG_LEVEL"}


def environment(stack: Stack) -> dict[str, str]:
    """The function's variables as Lambda would hold them: Globals merged under the function's own."""
    globals_env = stack.resolve(stack.template["Globals"]["Function"]["Environment"]["Variables"])
    own = stack.properties("ExportFunction")["Environment"]["Variables"]
    return {k: str(v) for k, v in (globals_env | own).items()}


def refs(node: Any) -> set[str]:
    """Every name a Ref (or a ${Name} in a Sub) points at."""
    if isinstance(node, list):
        return set().union(*(refs(i) for i in node)) if node else set()
    if isinstance(node, dict):
        found: set[str] = set()
        for k, v in node.items():
            if k == "Ref":
                found.add(v)
            elif k == "Fn::Sub":
                text = v if isinstance(v, str) else v[0]
                found |= {m for m in re.findall(r"\$\{([^!}][^}]*)\}", text) if "." not in m}
                if not isinstance(v, str):
                    found |= refs(v[1])
            else:
                found |= refs(v)
        return found
    return set()


# --- Glue tables: the catalogue, the layout ----------------------------------------------------------------


def test_one_glue_table_per_report_with_the_catalogue_columns_all_strings(deployed: Stack) -> None:
    tables = {t["TableInput"]["Name"]: t for t in map(deployed.properties, deployed.of_type("AWS::Glue::Table"))}
    assert set(tables) == {r.name for r in REPORTS}
    for report in REPORTS:
        table = tables[report.name]["TableInput"]
        columns = table["StorageDescriptor"]["Columns"]
        assert [c["Name"] for c in columns] == list(report.columns), report.name
        # OpenCSVSerde reads strings only reliably: an empty numeric fails, Unix seconds are no timestamp
        assert {c["Type"] for c in columns} == {"string"}, report.name
        assert [(k["Name"], k["Type"]) for k in table["PartitionKeys"]] == [("partner_id", "string"), ("dt", "string")]


def test_tables_read_the_exporters_csv(deployed: Stack) -> None:
    for props in map(deployed.properties, deployed.of_type("AWS::Glue::Table").keys()):
        table = props["TableInput"]
        assert table["TableType"] == "EXTERNAL_TABLE"
        serde = table["StorageDescriptor"]["SerdeInfo"]
        assert serde["SerializationLibrary"] == "org.apache.hadoop.hive.serde2.OpenCSVSerde"
        # comma, double quote (the landed CSV is RFC 4180 QUOTE_MINIMAL), and OpenCSVSerde's default escape
        assert serde["Parameters"] == {"separatorChar": ",", "quoteChar": '"', "escapeChar": "\\"}
        assert table["Parameters"]["skip.header.line.count"] == "1"
        assert table["StorageDescriptor"]["InputFormat"] == "org.apache.hadoop.mapred.TextInputFormat"


@pytest.mark.parametrize(
    "overrides", [{}, {"ExportBucketName": "analytics-landing", "ExportPrefix": "exports/kaltura"}]
)
def test_table_locations_are_the_exporters_layout(template: dict[str, Any], overrides: dict[str, str]) -> None:
    stack = Stack(template, REQUIRED | {"PartnerIds": "4242,5151"} | overrides)
    env = environment(stack)
    settings = Settings.from_env(env)
    window = manual_windows(date(2026, 11, 1), date(2026, 11, 1), Period.DAILY, ZoneInfo("Europe/Berlin"))[0]
    tables = {
        t["TableInput"]["Name"]: t["TableInput"] for t in map(stack.properties, stack.of_type("AWS::Glue::Table"))
    }
    for report in REPORTS:
        table = tables[report.name]
        key = data_key(settings.prefix, report, 5151, window)
        folder = f"s3://{settings.bucket}/{key.rsplit('/', 1)[0]}/"
        template_location = table["Parameters"]["storage.location.template"]
        assert template_location.replace("${partner_id}", "5151").replace("${dt}", window.dt.isoformat()) == folder
        assert folder.startswith(table["StorageDescriptor"]["Location"])
        assert table["StorageDescriptor"]["Location"] == f"s3://{settings.bucket}/{settings.prefix}/{report.name}/"


def test_partition_projection(deployed: Stack) -> None:
    for props in map(deployed.properties, deployed.of_type("AWS::Glue::Table")):
        p = props["TableInput"]["Parameters"]
        assert p["projection.enabled"] == "true"
        assert (p["projection.dt.type"], p["projection.dt.format"]) == ("date", "yyyy-MM-dd")
        # projection's NOW is UTC: a day ahead keeps today's partition of a zone east of UTC visible
        assert p["projection.dt.range"] == "2024-01-01,NOW+1DAYS"
        assert (p["projection.dt.interval"], p["projection.dt.interval.unit"]) == ("1", "DAYS")
        assert (p["projection.partner_id.type"], p["projection.partner_id.values"]) == ("enum", "4242")


def test_workgroup_encrypts_results_and_caps_scans(deployed: Stack) -> None:
    (name,) = deployed.of_type("AWS::Athena::WorkGroup")
    config = deployed.properties(name)["WorkGroupConfiguration"]
    assert config["EnforceWorkGroupConfiguration"] is True
    assert int(config["BytesScannedCutoffPerQuery"]) == 10 * 1024**3
    assert config["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"] in ("SSE_S3", "SSE_KMS")
    bucket = environment(deployed)["EXPORT_BUCKET"]
    location = config["ResultConfiguration"]["OutputLocation"]
    assert location.startswith(f"s3://{bucket}/") and not location.startswith(f"s3://{bucket}/kaltura/")


def test_named_queries_parse_and_use_the_tables_and_the_timezone(template: dict[str, Any]) -> None:
    """Each saved query is valid Trino SQL (Athena engine 3) over the Glue tables' columns, in TIMEZONE."""
    sqlglot = need_module("sqlglot")
    exp = need_module("sqlglot.expressions")
    stack = Stack(template, REQUIRED | {"Timezone": "Europe/Berlin"})
    queries = {q["Name"]: q for q in map(stack.properties, stack.of_type("AWS::Athena::NamedQuery"))}
    assert {"Attendance per room per day", "Engagement per host", "Breakout participation"} <= set(queries)
    columns = {r.name: set(r.columns) | {"partner_id", "dt"} for r in REPORTS}
    for name, query in queries.items():
        assert query["Database"] == "kaltura_export" and query["WorkGroup"] == stack.ref("AthenaWorkGroup")
        sql = query["QueryString"]
        assert "AT TIME ZONE 'Europe/Berlin'" in sql, name
        tree = sqlglot.parse_one(sql, read="trino")
        ctes = {c.alias for c in tree.find_all(exp.CTE)}
        tables = {t.name for t in tree.find_all(exp.Table)} - ctes - {"attendees_typed"}
        assert tables and tables <= set(columns), (name, tables)
        aliases = {a.alias for a in tree.find_all(exp.Alias)}
        used = {c.name for c in tree.find_all(exp.Column)}
        unknown = used - set().union(*(columns[t] for t in tables)) - aliases
        assert not unknown, f"{name} names columns no table has: {unknown}"


# --- the function ------------------------------------------------------------------------------------------


def test_every_setting_comes_from_a_parameter(template: dict[str, Any], deployed: Stack) -> None:
    env = environment(deployed)
    assert set(env) == DESIGN_VARIABLES | POWERTOOLS_VARIABLES
    own = template["Resources"]["ExportFunction"]["Properties"]["Environment"]["Variables"]
    parameters = set(template["Parameters"])
    resources = set(template["Resources"])
    for name, expression in own.items():
        names = refs(expression)
        assert names & parameters or names & resources, f"{name} is not set from a parameter: {expression}"
    assert env["POWERTOOLS_SERVICE_NAME"] == "kaltura-export"


def test_parameter_defaults_are_the_codes_defaults(deployed: Stack) -> None:
    """Deploying with the defaults configures exactly what DESIGN.md documents as the defaults."""
    env = environment(deployed)
    settings = Settings.from_env(env)
    documented = Settings(bucket=settings.bucket, secret_ids=("kaltura/university",), topic_arn=env["NOTIFY_TOPIC_ARN"])
    assert settings == documented


@pytest.mark.parametrize(
    ("names", "single", "several"),
    [("kaltura/university", "kaltura/university", ""), ("kaltura/a,kaltura/b", "", "kaltura/a,kaltura/b")],
)
def test_one_secret_or_several(template: dict[str, Any], names: str, single: str, several: str) -> None:
    env = environment(Stack(template, REQUIRED | {"KalturaSecretNames": names}))
    assert (env["KALTURA_SECRET_ARN"], env["KALTURA_SECRET_ARNS"]) == (single, several)
    assert Settings.from_env(env).secret_ids == tuple(names.split(","))


def test_a_full_configuration_reaches_the_function(template: dict[str, Any]) -> None:
    stack = Stack(
        template,
        REQUIRED
        | {
            "KalturaServiceUrl": "https://api.eu.kaltura.com/api_v3/",
            "ExportBucketName": "analytics-landing",
            "ExportPrefix": "exports/kaltura",
            "Reports": "attendees,6002",
            "Period": "hourly",
            "Timezone": "Australia/Lord_Howe",
            "Lookback": "24",
            "EntryIds": "1_aaa,1_bbb",
            "UserIds": "u1",
            "ExcludedFields": "user_email,user_name",
            "MaxConcurrency": "2",
            "RowCap": "5000",
            "KalturaTimeout": "300",
            "RetryBaseDelay": "0",
        },
    )
    settings = Settings.from_env(environment(stack))
    assert settings.service_url == "https://api.eu.kaltura.com"
    assert (settings.bucket, settings.prefix) == ("analytics-landing", "exports/kaltura")
    assert [r.name for r in settings.reports] == ["attendees", "breakout_rooms"]
    assert (settings.period, settings.timezone, settings.lookback) == (Period.HOURLY, "Australia/Lord_Howe", 24)
    assert settings.filters == {"ENTRY_IDS": ("1_aaa", "1_bbb"), "USER_IDS": ("u1",)}
    assert settings.excluded_fields == ("user_email", "user_name")
    assert (settings.max_concurrency, settings.row_cap, settings.kaltura_timeout, settings.retry_base_delay) == (
        2,
        5000,
        300.0,
        0.0,
    )


def test_parameter_bounds_are_the_settings_bounds(template: dict[str, Any]) -> None:
    """A value the template accepts is one the code accepts: Number parameters carry the same limits."""
    params = template["Parameters"]
    bounds = {
        "Lookback": ("LOOKBACK", 1, 1000),
        "MaxConcurrency": ("MAX_CONCURRENCY", 1, 64),
        "RowCap": ("ROW_CAP", 1, 10_000_000),
        "KalturaTimeout": ("KALTURA_TIMEOUT", 1, 900),
        "RetryBaseDelay": ("RETRY_BASE_DELAY", 0, 60),
        "ShrinkThreshold": ("SHRINK_THRESHOLD", 0, 1),
    }
    for name, (variable, low, high) in bounds.items():
        assert (params[name]["MinValue"], params[name]["MaxValue"]) == (low, high), name
        for value in (low, high):
            env = environment(Stack(template, REQUIRED | {name: str(value)}))
            Settings.from_env(env)  # accepted
            assert env[variable] == str(value)


def test_runtime_timeout_memory_and_no_lambda_retries(deployed: Stack, template: dict[str, Any]) -> None:
    function = deployed.properties("ExportFunction")
    globals_ = template["Globals"]["Function"]
    assert (globals_["Runtime"], globals_["Architectures"]) == ("python3.13", ["arm64"])
    assert function["Handler"] == "app.lambda_handler" and function["CodeUri"] == "functions/export/"
    # Kaltura allows a report 600 s; the function must outlive one such call
    assert function["Timeout"] >= 600 + 60 and function["Timeout"] <= 900
    assert function["MemorySize"] <= 512
    invoke = function["EventInvokeConfig"]
    assert invoke["MaximumRetryAttempts"] == 0
    on_failure = template["Resources"]["ExportFunction"]["Properties"]["EventInvokeConfig"]["DestinationConfig"]
    queue = on_failure["OnFailure"]["Destination"]["Fn::GetAtt"][0]
    assert on_failure["OnFailure"]["Type"] == "SQS"
    assert deployed.properties(queue).get("KmsMasterKeyId") or deployed.properties(queue).get("SqsManagedSseEnabled")
    assert "ReservedConcurrentExecutions" not in function  # 0 = unset
    reserved = Stack(template, REQUIRED | {"ReservedConcurrency": "1"}).properties("ExportFunction")
    assert reserved["ReservedConcurrentExecutions"] == "1"
    log_group = deployed.properties("ExportLogGroup")
    assert function["LoggingConfig"]["LogGroup"] == log_group["LogGroupName"]
    assert int(log_group["RetentionInDays"]) == 90


def test_layer_and_function_build_with_their_makefiles(template: dict[str, Any]) -> None:
    for logical_id, folder in (("ExporterLayer", "layers/exporter"), ("ExportFunction", "functions/export")):
        resource = template["Resources"][logical_id]
        assert resource["Metadata"]["BuildMethod"] == "makefile"
        makefile = (ROOT / folder / "Makefile").read_text()
        assert re.search(rf"^build-{logical_id}:", makefile, re.M), f"{folder}/Makefile has no build-{logical_id}"
    layer = template["Resources"]["ExporterLayer"]
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert layer["Metadata"]["BuildArchitecture"] == "arm64"
    lines = (ROOT / "layers/exporter/requirements.txt").read_text().lower().splitlines()
    names = {re.split(r"[=<>~\[ ;]", line.strip())[0] for line in lines if line.strip() and not line.startswith("#")}
    assert names and not names & {"boto3", "botocore", "s3transfer"}  # the runtime has them


# --- the schedule -----------------------------------------------------------------------------------------


def test_schedule_input_is_the_sample_scheduled_event(template: dict[str, Any]) -> None:
    event = template["Resources"]["ExportFunction"]["Properties"]["Events"]["Schedule"]
    assert event["Type"] == "ScheduleV2"
    props = event["Properties"]
    assert props["OmitName"] is True
    assert refs(props["ScheduleExpression"]) == {"ScheduleExpression"}
    assert refs(props["ScheduleExpressionTimezone"]) >= {"ScheduleTimezone", "Timezone"}
    assert refs(props["State"]) == {"ScheduleState"}
    assert props["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    dlq = props["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    assert template["Resources"][dlq]["Properties"]["KmsMasterKeyId"]

    sent = json.loads(props["Input"])
    sample = load_event("scheduled.json")
    assert set(sent) == set(sample)
    assert sent == {
        "scheduled_time": "<aws.scheduler.scheduled-time>",
        "execution_id": "<aws.scheduler.execution-id>",
        "schedule_arn": "<aws.scheduler.schedule-arn>",
    }
    # what the scheduler delivers, context attributes filled in, is an event the handler accepts
    delivered = {k: sample[k] for k in sent}
    request = parse_event(delivered)
    assert isinstance(request, ScheduledRequest) and request.execution_id == sample["execution_id"]


def test_schedule_runs_in_the_export_timezone_unless_told_otherwise(template: dict[str, Any]) -> None:
    def zone(**overrides: str) -> str:
        stack = Stack(template, REQUIRED | overrides)
        props = stack.resolve(template["Resources"]["ExportFunction"]["Properties"]["Events"]["Schedule"])
        return str(props["Properties"]["ScheduleExpressionTimezone"])

    assert zone(Timezone="Europe/Berlin") == "Europe/Berlin"
    assert zone(Timezone="Europe/Berlin", ScheduleTimezone="UTC") == "UTC"


def test_every_sample_event_is_accepted() -> None:
    files = sorted((ROOT / "events").glob("*.json"))
    assert files
    for f in files:
        parse_event(json.loads(f.read_text()))


# --- the bucket (what cfn-guard would check) -------------------------------------------------------------


def test_export_bucket_is_hardened(deployed: Stack, template: dict[str, Any]) -> None:
    resource = template["Resources"]["ExportBucket"]
    assert (resource["DeletionPolicy"], resource["UpdateReplacePolicy"]) == ("Retain", "Retain")
    bucket = deployed.properties("ExportBucket")
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}]
    assert bucket["VersioningConfiguration"]["Status"] == "Enabled"
    rules = {r["Id"]: r for r in bucket["LifecycleConfiguration"]["Rules"]}
    assert rules["AbortIncompleteMultipartUploads"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] <= 7
    assert int(rules["ExpireNoncurrentVersions"]["NoncurrentVersionExpiration"]["NoncurrentDays"]) == 30
    assert "ExpireExports" not in rules and "ExpireAttendeesPersonalData" not in rules  # 0 = keep

    policy = deployed.properties("ExportBucketPolicy")["PolicyDocument"]["Statement"]
    tls = [s for s in policy if s["Condition"].get("Bool", {}).get("aws:SecureTransport") == "false"]
    assert tls and tls[0]["Effect"] == "Deny" and tls[0]["Principal"] == "*" and tls[0]["Action"] == "s3:*"
    assert set(tls[0]["Resource"]) == {
        f"arn:aws:s3:::{deployed.ref('ExportBucket')}",
        f"arn:aws:s3:::{deployed.ref('ExportBucket')}/*",
    }


def test_personal_data_can_expire(template: dict[str, Any]) -> None:
    stack = Stack(template, REQUIRED | {"AttendeeDataRetentionDays": "395", "DataRetentionDays": "1825"})
    rules = {r["Id"]: r for r in stack.properties("ExportBucket")["LifecycleConfiguration"]["Rules"]}
    attendees = next(r for r in REPORTS if r.name == "attendees")
    window = manual_windows(date(2026, 11, 1), date(2026, 11, 1), Period.DAILY, ZoneInfo("UTC"))[0]
    assert data_key("kaltura", attendees, 4242, window).startswith(rules["ExpireAttendeesPersonalData"]["Prefix"])
    assert int(rules["ExpireAttendeesPersonalData"]["ExpirationInDays"]) == 395
    assert (rules["ExpireExports"]["Prefix"], int(rules["ExpireExports"]["ExpirationInDays"])) == ("kaltura/", 1825)


def test_an_existing_bucket_is_used_as_is(template: dict[str, Any]) -> None:
    stack = Stack(template, REQUIRED | {"ExportBucketName": "analytics-landing"})
    assert not stack.exists("ExportBucket") and not stack.exists("ExportBucketPolicy")
    assert environment(stack)["EXPORT_BUCKET"] == "analytics-landing"
    assert stack.resolve(template["Outputs"]["DataBucket"]["Value"]) == "analytics-landing"


# --- notification and alarms ------------------------------------------------------------------------------


def test_topic_uses_a_retained_key_that_cloudwatch_alarms_may_use(deployed: Stack, template: dict[str, Any]) -> None:
    key = template["Resources"]["NotifyKey"]
    assert (key["DeletionPolicy"], key["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert deployed.properties("NotifyTopic")["KmsMasterKeyId"] == deployed.ref("NotifyKey")
    props = deployed.properties("NotifyKey")
    assert props["EnableKeyRotation"] is True
    cloudwatch = [
        s for s in props["KeyPolicy"]["Statement"] if s["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert cloudwatch and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(cloudwatch[0]["Action"])


def test_email_subscription_and_its_failed_only_filter(template: dict[str, Any]) -> None:
    assert not Stack(template, REQUIRED).exists("NotifyEmail")
    everything = Stack(template, REQUIRED | {"NotificationEmail": "ops@example.edu"})
    props = everything.properties("NotifyEmail")
    assert (props["Protocol"], props["Endpoint"]) == ("email", "ops@example.edu") and "FilterPolicy" not in props
    failures = Stack(template, REQUIRED | {"NotificationEmail": "ops@example.edu", "EmailOnlyFailures": "true"})
    policy = failures.properties("NotifyEmail")["FilterPolicy"]
    # runs carry the attribute status; alarms carry none and must still reach the administrator
    assert policy == {"status": ["FAILED", {"exists": False}]}


def test_alarms_cover_errors_throttles_queues_duration_and_silence(deployed: Stack, template: dict[str, Any]) -> None:
    alarms = {k: deployed.properties(k) for k in deployed.of_type("AWS::CloudWatch::Alarm")}
    topic = deployed.ref("NotifyTopic")
    assert all(a["AlarmActions"] == [topic] for a in alarms.values())
    by_metric = {(a["Namespace"], a["MetricName"], json.dumps(a["Dimensions"])): a for a in alarms.values()}
    function = [{"Name": "FunctionName", "Value": deployed.ref("ExportFunction")}]
    for metric in ("Errors", "Throttles", "Duration"):
        assert ("AWS/Lambda", metric, json.dumps(function)) in by_metric, metric
    timeout_ms = deployed.properties("ExportFunction")["Timeout"] * 1000
    duration = by_metric[("AWS/Lambda", "Duration", json.dumps(function))]
    assert 0.7 * timeout_ms <= duration["Threshold"] < timeout_ms
    for queue in deployed.of_type("AWS::SQS::Queue"):
        dims = [{"Name": "QueueName", "Value": deployed.get_att(queue, "QueueName")}]
        assert ("AWS/SQS", "ApproximateNumberOfMessagesVisible", json.dumps(dims)) in by_metric, queue

    env = environment(deployed)
    silence = alarms["NoSuccessfulExportAlarm"]
    assert (silence["Namespace"], silence["MetricName"]) == (env["POWERTOOLS_METRICS_NAMESPACE"], "SuccessfulExports")
    # the dimension Powertools adds to every metric of the handler's Metrics()
    assert silence["Dimensions"] == [{"Name": "service", "Value": env["POWERTOOLS_SERVICE_NAME"]}]
    assert silence["TreatMissingData"] == "breaching"
    assert silence["ComparisonOperator"] == "LessThanThreshold" and silence["Threshold"] == 1
    assert int(silence["Period"]) * int(silence["EvaluationPeriods"]) == 25 * 3600
    assert not Stack(template, REQUIRED | {"SuccessAlarmHours": "0"}).exists("NoSuccessfulExportAlarm")


def test_dashboard_is_valid_json_over_the_stacks_metrics(deployed: Stack) -> None:
    body = json.loads(deployed.properties("Dashboard")["DashboardBody"])
    titles = [w["properties"].get("title", "") for w in body["widgets"]]
    for wanted in ("Rows landed per report per day", "Last successful export", "Run duration"):
        assert any(t.startswith(wanted) for t in titles), wanted
    metrics = metric_references(body)
    env = environment(deployed)
    assert {(env["POWERTOOLS_METRICS_NAMESPACE"], "ReportRows", r.name) for r in REPORTS} <= {
        (ns, name, dims.get("report")) for ns, name, dims in metrics
    }
    log = next(w for w in body["widgets"] if w["type"] == "log")
    assert f"SOURCE '{deployed.ref('ExportLogGroup')}'" in log["properties"]["query"]


def metric_references(body: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, metric, dimensions) of every metric line, with CloudWatch's "." and "..." shorthands expanded."""
    out: list[tuple[str, str, dict[str, str]]] = []
    for widget in body["widgets"]:
        previous: list[str] = []
        for line in widget.get("properties", {}).get("metrics", []):
            items = [i for i in line if isinstance(i, str)]
            if items and items[0] == "...":
                items = previous[: len(previous) - len(items) + 1] + items[1:]
            items = [previous[i] if v == "." else v for i, v in enumerate(items)]
            previous = items
            out.append((items[0], items[1], dict(zip(items[2::2], items[3::2], strict=True))))
    return out


# --- checkov skips -------------------------------------------------------------------------------------------


def test_every_checkov_skip_has_a_reason(template: dict[str, Any]) -> None:
    skips = [
        (name, skip)
        for name, resource in template["Resources"].items()
        for skip in resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
    ]
    assert skips
    for name, skip in skips:
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (name, skip)
        assert len(skip.get("comment", "")) >= 40, f"{name} skips {skip['id']} without a reason"


def test_console_groups_every_parameter(template: dict[str, Any]) -> None:
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]
    assert sorted(grouped) == sorted(template["Parameters"])


def test_outputs_are_described(template: dict[str, Any]) -> None:
    for name, output in template["Outputs"].items():
        assert len(output.get("Description", "")) > 10, name
    for name, parameter in template["Parameters"].items():
        assert len(parameter.get("Description", "")) > 20, name


def test_samconfig_has_the_sam_init_shape() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    assert config["version"] == 0.1
    default = config["default"]
    assert default["validate"]["parameters"]["lint"] is True
    assert default["deploy"]["parameters"]["capabilities"] == "CAPABILITY_IAM"
    assert default["global"]["parameters"]["stack_name"]
    assert Path(ROOT / default["local_invoke"]["parameters"]["event"]).exists()


# --- the README's Deploy section ------------------------------------------------------------------------


def deploy_section() -> str:
    text = (ROOT / "README.md").read_text()
    assert "\n## Deploy\n" in text
    return text.split("\n## Deploy\n", 1)[1]


def test_readme_names_every_parameter(template: dict[str, Any]) -> None:
    section = deploy_section()
    missing = [name for name in template["Parameters"] if f"`{name}`" not in section]
    assert not missing, f"README's Deploy section does not explain {missing}"


def test_readme_diagram_matches_the_template(template: dict[str, Any]) -> None:
    diagram = re.search(r"```mermaid\n(.*?)```", deploy_section(), re.S)
    assert diagram, "no Mermaid diagram in the Deploy section"
    drawn = set(re.findall(r"\b[A-Z][A-Za-z]+\b", diagram.group(1)))
    shown_types = {
        "AWS::Serverless::Function",
        "AWS::Serverless::LayerVersion",
        "AWS::S3::Bucket",
        "AWS::SNS::Topic",
        "AWS::SNS::Subscription",
        "AWS::KMS::Key",
        "AWS::SQS::Queue",
        "AWS::Logs::LogGroup",
        "AWS::Glue::Database",
        "AWS::Athena::WorkGroup",
    }
    resources = template["Resources"]
    for name, resource in resources.items():
        if resource["Type"] in shown_types:
            assert name in drawn, f"{name} ({resource['Type']}) is not in the diagram"
    named = {n for n in drawn if re.fullmatch(r"(?:[A-Z][a-z]+){2,}", n)}
    unknown = named - set(resources) - set(template["Parameters"]) - {"EventBridge", "ScheduleV2", "OpenCSVSerde"}
    assert not unknown, f"the diagram names what the template does not have: {unknown}"
