"""Run handler/app.py's ``lambda_handler`` once, in this fresh process, on an event from stdin.

``python -m tools.run_handler --timeout 60 < events/create.json``: the entry
point as Lambda calls it (a context with a deadline), with whatever
AWS_ENDPOINT_URL_IAM / SSL_CERT_FILE the environment gives. The end-to-end
tests and the demo use it; ``make invoke`` runs the built artifact instead.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tools.stack import FakeContext

ROOT = Path(__file__).resolve().parent.parent
HANDLER_DIR = ROOT / "handler"


def run_in_fresh_process(event: dict[str, Any], env: dict[str, str], timeout: float = 60) -> str:
    """Invoke the entry point on ``event`` in a new interpreter; return its logs.

    ``env`` is laid over this process's environment (endpoints, CA file);
    AWS_SAM_LOCAL is dropped so the answer really travels.
    """
    full_env = {**os.environ, **env}
    full_env.pop("AWS_SAM_LOCAL", None)
    done = subprocess.run(
        [sys.executable, "-m", "tools.run_handler", "--timeout", str(timeout)],
        input=json.dumps(event),
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=full_env,
        timeout=timeout + 30,
        check=True,
    )
    return done.stdout + done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=360.0, help="seconds until the deadline")
    args = parser.parse_args()
    event = json.load(sys.stdin)
    sys.path.insert(0, str(HANDLER_DIR))
    import app

    app.lambda_handler(event, FakeContext(args.timeout))
    return 0


if __name__ == "__main__":
    sys.exit(main())
