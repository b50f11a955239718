#!/bin/sh
# Print the path of a CPython X.Y interpreter (default 3.13, the template's Runtime):
# pyenv's newest X.Y.z first, then pythonX.Y on PATH. Never a hard-coded path.
# On failure, one line on stderr that says what to install, and exit status 1.
#
# LAMBDA_PYTHON_BIN, when set, is the only interpreter tried (a path, or a command
# on PATH): to use one that neither pyenv nor PATH offers, or to see what a
# machine without Python X.Y gets (LAMBDA_PYTHON_BIN=none: `make demo` then plays
# on the Python that runs make; the tests use it that way).
want="${1:-3.13}"

# Succeeds when "$1" runs and is exactly Python $want; prints its real executable.
real_python() {
    "$1" -c "import sys; v = '%d.%d' % sys.version_info[:2]; print(sys.executable) if v == '$want' else sys.exit(1)" 2>/dev/null
}

if [ -n "${LAMBDA_PYTHON_BIN:-}" ]; then
    real_python "$LAMBDA_PYTHON_BIN" && exit 0
    echo "error: LAMBDA_PYTHON_BIN=$LAMBDA_PYTHON_BIN is not a Python $want; point it at one, or unset it to search pyenv and PATH" >&2
    exit 1
fi

if command -v pyenv >/dev/null 2>&1; then
    # Newest patch release first; pyenv's shims would only find the active version.
    for version in $(pyenv versions --bare --skip-aliases 2>/dev/null | grep -E "^${want}\.[0-9]+$" | sort -t. -k3,3nr); do
        prefix=$(pyenv prefix "$version" 2>/dev/null) || continue
        real_python "$prefix/bin/python$want" && exit 0
    done
fi

if candidate=$(command -v "python$want" 2>/dev/null); then
    real_python "$candidate" && exit 0
fi

echo "error: Python $want not found (tried pyenv and python$want on PATH); install it, e.g. 'pyenv install $want' or your OS package python$want" >&2
exit 1
