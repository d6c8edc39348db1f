#!/usr/bin/env bash
# The Python tools the tests drive, in a venv at target/venv (Debian's python3, packages from
# PyPI): playwright for the browser test of the web console. Never a downloaded browser:
# tests launch Debian's /usr/bin/chromium. Re-run to update; cheap when up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/venv
want=(playwright==1.65.2)
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PIP_DISABLE_PIP_VERSION_CHECK=1
[[ -x $venv/bin/python ]] || /usr/bin/python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q "${want[@]}"
