"""``python -m local.kaltura_emulator``: serve the emulator until Ctrl-C (or SIGTERM)."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from types import FrameType

from .server import HASH_TYPES, KalturaEmulator


def _app_token(spec: str) -> tuple[str, str, str]:
    token_id, sep, rest = spec.partition(":")
    token, _, hash_type = rest.partition(":")
    if not sep or not token_id or not token:
        raise argparse.ArgumentTypeError("expected ID:TOKEN[:HASH_TYPE]")
    hash_type = (hash_type or "SHA256").upper()
    if hash_type not in HASH_TYPES:
        raise argparse.ArgumentTypeError(f"hash type must be one of {', '.join(HASH_TYPES)}")
    return token_id, token, hash_type


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, serve, and block until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m local.kaltura_emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default 0: any free port)")
    parser.add_argument("--partner-id", type=int, default=4242)
    parser.add_argument("--admin-secret", default=None, help="default: random 32 hex characters")
    parser.add_argument("--seed", type=int, default=7, help="seed of the synthetic data")
    parser.add_argument("--row-cap", type=int, default=100_000)
    parser.add_argument("--scale", type=int, default=1, help="multiplies the attendees of every session")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every report call")
    parser.add_argument(
        "--app-token", type=_app_token, action="append", default=[], metavar="ID:TOKEN[:HASH]",
        help="register an app token (repeatable)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print one JSON line instead of text")
    args = parser.parse_args(argv)

    emulator = KalturaEmulator(
        partner_id=args.partner_id, admin_secret=args.admin_secret, seed=args.seed, row_cap=args.row_cap,
        host=args.host, port=args.port,
    )  # fmt: skip
    emulator.scale = max(1, args.scale)
    emulator.latency = args.latency
    for token_id, token, hash_type in args.app_token:
        emulator.add_app_token(token_id, token, hash_type)
    url = emulator.start()
    if args.json:
        print(json.dumps({"url": url, "partner_id": emulator.partner_id, "admin_secret": emulator.admin_secret}))
    else:
        print(f"Kaltura emulator listening on {url}")
        print(f"partner_id:   {emulator.partner_id}")
        print(f"admin_secret: {emulator.admin_secret}")
        print(f"control:      POST {url}/_emulator/control   state: GET {url}/_emulator/state")
        print("Ctrl-C to stop.")
    sys.stdout.flush()

    stopped = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    # SIGINT too: a shell that starts us in the background ignores it, and Python then never raises KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        while not stopped.wait(0.5):
            pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
