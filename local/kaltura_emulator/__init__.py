"""Local Kaltura api_v3 emulator (development only; never shipped in the Lambda layer).

In a test::

    from local.kaltura_emulator import KalturaEmulator

    with KalturaEmulator(partner_id=4242, admin_secret=secrets.token_hex(16), seed=7) as emu:
        ks = emu.mint_ks()
        requests.post(f"{emu.url}/api_v3/service/report/action/getCsvFromStringParams",
                      data={"ks": ks, "id": 6000, "params": "from_date=1772409600;to_date=1772496000"})
        emu.faults.add("ACTION_BLOCKED", report_id=6001, times=2)

In another process: ``python -m local.kaltura_emulator --port 8765``, then drive it with
``POST /_emulator/control`` (JSON: ``latency``, ``throttle``, ``scale``, ``row_cap``, ``fault``/``faults``,
``app_token``, ``revoke``, ``mint_ks``, ``clear``, ``reset_calls``) and read ``GET /_emulator/state``.
"""

from .data import University
from .faults import KINDS as FAULT_KINDS
from .faults import Fault, Faults
from .ks import KsDecodeError, KsInfo
from .reports import COLUMNS
from .server import AppToken, KalturaEmulator, ReportCall
from .wire import KalturaError

__all__ = [
    "COLUMNS",
    "FAULT_KINDS",
    "AppToken",
    "Fault",
    "Faults",
    "KalturaEmulator",
    "KalturaError",
    "KsDecodeError",
    "KsInfo",
    "ReportCall",
    "University",
]
