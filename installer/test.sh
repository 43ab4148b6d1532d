#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite, plus the import-boundary contract and ruff.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
"$here/setup.sh" --test
cd "$root"
export QT_QPA_PLATFORM=offscreen
.venv/bin/lint-imports --no-cache
.venv/bin/ruff check her2viewer training tests benchmarks
.venv/bin/python -m pytest "$@"
