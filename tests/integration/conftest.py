"""Integration fixtures: real HTTP servers on 127.0.0.1 only."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from kaltura_export.settings import VARIABLES
from local.aws import MotoServer, Stack, create_stack
from local.lambda_context import LocalContext

if TYPE_CHECKING:
    from local.kaltura_emulator import KalturaEmulator

PARTNER_ID = 4242


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer()
    url = server.start()
    previous = os.environ.get("AWS_ENDPOINT_URL")
    os.environ["AWS_ENDPOINT_URL"] = url
    yield server
    if previous is None:
        os.environ.pop("AWS_ENDPOINT_URL", None)
    else:
        os.environ["AWS_ENDPOINT_URL"] = previous
    server.stop()


@pytest.fixture
def emulator() -> Iterator[KalturaEmulator]:
    from local.kaltura_emulator import KalturaEmulator

    emu = KalturaEmulator(partner_id=PARTNER_ID, admin_secret=secrets.token_hex(16), seed=7)
    emu.start()
    yield emu
    emu.stop()


@pytest.fixture
def app_token(emulator: KalturaEmulator) -> dict[str, Any]:
    """The recommended credentials shape, registered with the emulator."""
    token_id, token = "1_" + secrets.token_hex(4), secrets.token_hex(16)
    emulator.add_app_token(token_id, token)
    return {"partner_id": PARTNER_ID, "app_token_id": token_id, "app_token": token, "hash_type": "SHA256"}


@pytest.fixture
def stack(moto_server: MotoServer, app_token: dict[str, Any]) -> Stack:
    return create_stack(moto_server, app_token)


@pytest.fixture
def make_stack(moto_server: MotoServer) -> Callable[[Any], Stack]:
    return lambda secret_value: create_stack(moto_server, secret_value)


@pytest.fixture
def invoke(monkeypatch: pytest.MonkeyPatch, emulator: KalturaEmulator) -> Callable[..., dict[str, Any]]:
    """Call the real handler with the exporter's environment for a stack (plus overrides)."""
    import app

    def call(event: Any, stack: Stack, **env: str) -> dict[str, Any]:
        values = {
            **stack.env(),
            "KALTURA_SERVICE_URL": emulator.url,
            "RETRY_BASE_DELAY": "0",
            "TIMEZONE": "UTC",
            **env,
        }
        for k in VARIABLES:
            monkeypatch.delenv(k, raising=False)
        for k, v in values.items():
            monkeypatch.setenv(k, v)
        result: dict[str, Any] = app.lambda_handler(event, LocalContext())
        return result

    return call
