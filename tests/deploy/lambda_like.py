"""Invoke the built handler the way the Lambda Python runtime lays it out, in a process of its own.

Run as ``python -I -S -B lambda_like.py`` (isolated: no site-packages, no PYTHONPATH, no script folder on the
path), with a JSON request on stdin: {"paths": [function dir, layer python/ dir, runtime dir], "event": {...},
"result": "<file>"}. sys.path becomes those folders in Lambda's order (/var/task, /opt/python, the runtime's
own packages), so a dependency the layer lacks fails the import here as it would in Lambda. The system time-zone
database is switched off too: Lambda's image has none, zone data must come from the layer's tzdata.

Only the standard library may be imported before sys.path is set.
"""

import json
import sys
import time
import traceback
import uuid
import zoneinfo


class Context:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name = "kaltura-export-smoke"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:kaltura-export-smoke"
    log_group_name = "/aws/lambda/kaltura-export-smoke"
    log_stream_name = "smoke"

    def __init__(self, timeout: float = 900.0) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main() -> int:
    request = json.loads(sys.stdin.read())
    sys.path[:0] = request["paths"]
    zoneinfo.reset_tzpath(())
    outcome: dict[str, object] = {}
    try:
        import app  # the handler module, from the function folder

        outcome["result"] = app.lambda_handler(request["event"], Context())
    except Exception as exc:
        outcome["error"] = {"type": type(exc).__name__, "message": str(exc), "traceback": traceback.format_exc()}
    # where every imported module came from, to check nothing came from anywhere else
    outcome["modules"] = {
        name: getattr(module, "__file__", None) for name, module in sorted(sys.modules.items()) if module is not None
    }
    outcome["sys_path"] = sys.path
    with open(request["result"], "w", encoding="utf-8") as f:
        json.dump(outcome, f, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
