#!/usr/bin/env bash
# Set up (if needed) and open HER2 Viewer on the bundled demo slide with the bundled default model.
# With no display it scores the demo slide headless instead and prints the JSON result.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$here/setup.sh"
exec "$here/../.venv/bin/her2viewer" demo "$@"
