"""Run handler/app.py's ``lambda_handler`` once, in this fresh process, on an event from stdin.

``python -m tools.run_handler --timeout 60 < events/create.json``: the entry
point as Lambda calls it (a context with a deadline), with whatever
AWS_ENDPOINT_URL_IAM / SSL_CERT_FILE the environment gives. The end-to-end
tests and the demo use it; ``make invoke`` runs the built artifact instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from tools.stack import FakeContext

HANDLER_DIR = Path(__file__).resolve().parent.parent / "handler"


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
