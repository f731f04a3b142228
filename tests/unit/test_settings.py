from __future__ import annotations

import re

import pytest

from kaltura_export.catalogue import ATTENDEES, REPORTS, ROOMS
from kaltura_export.errors import ConfigError
from kaltura_export.settings import Settings, normalise_service_url
from kaltura_export.windows import Period

BASE = {"EXPORT_BUCKET": "my-exports", "KALTURA_SECRET_ARN": "kaltura/prod"}


def test_defaults_follow_the_design() -> None:
    s = Settings.from_env(BASE)
    assert s.service_url == "https://www.kaltura.com"
    assert s.secret_ids == ("kaltura/prod",)
    assert s.prefix == "kaltura"
    assert s.topic_arn is None
    assert s.reports == REPORTS
    assert s.period is Period.DAILY
    assert s.timezone == "UTC"
    assert (s.lookback, s.max_concurrency, s.row_cap, s.kaltura_timeout) == (3, 4, 100_000, 660.0)
    assert s.filters == {} and s.excluded_fields == ()


def test_every_variable_is_read() -> None:
    s = Settings.from_env(
        BASE
        | {
            "KALTURA_SERVICE_URL": "https://api.eu.kaltura.com/api_v3/",
            "EXPORT_PREFIX": "/exports/kaltura/",
            "NOTIFY_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:exports",
            "REPORTS": "6001, rooms",
            "PERIOD": "Weekly",
            "TIMEZONE": "Europe/Berlin",
            "LOOKBACK": "2",
            "ENTRY_IDS": "1_a, 1_b",
            "USER_IDS": "s1",
            "EXCLUDED_FIELDS": "user_email,user_name",
            "MAX_CONCURRENCY": "8",
            "ROW_CAP": "5000",
            "KALTURA_TIMEOUT": "120",
        }
    )
    assert s.service_url == "https://api.eu.kaltura.com"
    assert s.prefix == "exports/kaltura"
    assert s.topic_arn == "arn:aws:sns:eu-west-1:123456789012:exports"
    assert s.reports == (ROOMS, ATTENDEES)  # catalogue order, whatever the order given
    assert s.period is Period.WEEKLY and s.timezone == "Europe/Berlin" and s.tz.key == "Europe/Berlin"
    assert s.filters == {"ENTRY_IDS": ("1_a", "1_b"), "USER_IDS": ("s1",)}
    assert s.excluded_fields == ("user_email", "user_name")
    assert (s.lookback, s.max_concurrency, s.row_cap, s.kaltura_timeout) == (2, 8, 5000, 120.0)


def test_empty_values_mean_the_default() -> None:
    # CloudFormation passes unset parameters as empty strings
    s = Settings.from_env(BASE | {"NOTIFY_TOPIC_ARN": "", "PERIOD": " ", "ENTRY_IDS": ""})
    assert s.topic_arn is None and s.period is Period.DAILY and s.filters == {}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"PERIOD": "dayly"}, 'PERIOD must be one of hourly, daily, weekly, monthly; got "dayly"'),
        ({"TIMEZONE": "Mars/Olympus"}, "TIMEZONE must be an IANA time zone"),
        ({"LOOKBACK": "0"}, "LOOKBACK must be a whole number between 1 and 1000; got 0"),
        ({"LOOKBACK": "three"}, 'LOOKBACK must be a whole number between 1 and 1000; got "three"'),
        ({"MAX_CONCURRENCY": "1.5"}, "MAX_CONCURRENCY must be a whole number"),
        ({"KALTURA_TIMEOUT": "-1"}, "KALTURA_TIMEOUT must be a number of seconds"),
        ({"REPORTS": "rooms,webinars"}, "REPORTS: unknown report 'webinars'"),
        ({"REPORTS": "rooms,,attendees"}, "REPORTS: empty item"),
        ({"ENTRY_IDS": "1_a;1_b"}, "ENTRY_IDS: '1_a;1_b' contains ';'"),
        ({"USER_IDS": "a,"}, "USER_IDS: empty item"),
        ({"EXCLUDED_FIELDS": "user_mail"}, "EXCLUDED_FIELDS: 'user_mail' is not a column"),
        ({"NOTIFY_TOPIC_ARN": "my-topic"}, "NOTIFY_TOPIC_ARN must be an SNS topic ARN"),
        ({"KALTURA_SERVICE_URL": "http://www.kaltura.com"}, "KALTURA_SERVICE_URL must use https://"),
        ({"KALTURA_SERVICE_URL": "www.kaltura.com"}, "KALTURA_SERVICE_URL must be an https:// URL"),
        ({"EXPORT_BUCKET": "My_Bucket"}, "EXPORT_BUCKET must be an S3 bucket name"),
        ({"EXPORT_BUCKET": ""}, "EXPORT_BUCKET is required"),
        ({"KALTURA_SECRET_ARN": ""}, "KALTURA_SECRET_ARN is required"),
        ({"KALTURA_SECRET_ARNS": "a,b"}, "KALTURA_SECRET_ARN and KALTURA_SECRET_ARNS are both set"),
        ({"EXPORT_PREFIX": "a/../b"}, "EXPORT_PREFIX must be a plain key prefix"),
    ],
)
def test_bad_values_name_the_variable_and_what_was_expected(env: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(BASE | env)
    assert expected in str(info.value)


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env({"PERIOD": "yearly", "LOOKBACK": "x"})
    text = str(info.value)
    for name in ("KALTURA_SECRET_ARN", "EXPORT_BUCKET", "PERIOD", "LOOKBACK"):
        assert name in text


def test_variables_lists_every_variable_read() -> None:
    import inspect

    from kaltura_export import settings as module

    source = inspect.getsource(module.Settings.from_env)
    read = set(re.findall(r'(?:take|env\.get)\("([A-Z_]+)"', source))
    assert "for name in FILTER_SETTINGS" in source
    assert read | set(module.FILTER_SETTINGS) == set(module.VARIABLES)


def test_several_secrets() -> None:
    s = Settings.from_env({"EXPORT_BUCKET": "b-1", "KALTURA_SECRET_ARNS": "kaltura/a, kaltura/b"})
    assert s.secret_ids == ("kaltura/a", "kaltura/b")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://www.kaltura.com/", "https://www.kaltura.com"),
        ("https://www.kaltura.com/api_v3", "https://www.kaltura.com"),
        ("https://kaltura.example.edu/api_v3/", "https://kaltura.example.edu"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://localhost:9", "http://localhost:9"),
    ],
)
def test_service_url_is_normalised(given: str, expected: str) -> None:
    assert normalise_service_url(given) == expected


def test_service_url_may_not_carry_credentials() -> None:
    with pytest.raises(ConfigError):
        normalise_service_url("https://user:pw@www.kaltura.com")
