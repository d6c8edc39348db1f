#!/usr/bin/env bash
# Installs schemathesis (PyPI, pinned) into a virtualenv under target/tools/ made with
# Debian's python3 (python3-venv), and prints the venv's path. Does nothing when that
# version is already there. Non-interactive (CI has no stdin).
set -euo pipefail
cd "$(dirname "$0")/.."
version=4.32.5
venv=$PWD/target/tools/schemathesis-$version
if [[ ! -x $venv/bin/schemathesis ]]; then
  # Debian's interpreter, not whichever python3 comes first in PATH: python3-venv is for it.
  python=/usr/bin/python3
  [[ -x $python ]] && $python -c 'import ensurepip, venv' 2>/dev/null ||
    tools/install-packages.sh python3-venv >&2
  rm -rf "$venv"
  $python -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input "schemathesis==$version" >&2
  echo "install-schemathesis: schemathesis $version in $venv" >&2
fi
echo "$venv"
