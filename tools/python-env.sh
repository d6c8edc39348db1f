#!/usr/bin/env bash
# The Python tools the tests drive, pinned, from PyPI, in one venv at target/venv made with
# Debian's python3 (python3-venv): playwright (the web console's browser test; never a
# downloaded browser: tests launch Debian's /usr/bin/chromium) and schemathesis (the admin
# API against its OpenAPI document). Prints the venv's path. Cheap when up to date;
# non-interactive (CI has no stdin).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$PWD/target/venv
want=(playwright==1.65.2 schemathesis==4.32.5)
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PIP_DISABLE_PIP_VERSION_CHECK=1
python=/usr/bin/python3
# Debian's interpreter, not whichever python3 comes first in PATH: python3-venv is for it.
$python -c 'import ensurepip, venv' 2>/dev/null || tools/install-packages.sh python3-venv >&2
[[ -x $venv/bin/python ]] || $python -m venv "$venv"
# Pinned: a no-op (a second or two) when already there.
"$venv/bin/python" -m pip install --quiet --no-input "${want[@]}" >&2
echo "$venv"
