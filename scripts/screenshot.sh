#!/usr/bin/env bash
# Renders an --html report in headless Chromium (no network) and writes a PNG screenshot:
#   scripts/screenshot.sh report.html report.png [WIDTHxHEIGHT]
# Debian: apt-get install chromium. This is how the README's picture was made.
set -euo pipefail
page=$(realpath "$1")
png=$2
size=${3:-800x1400}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
    echo "screenshot.sh: no chromium found (apt-get install chromium)" >&2
    exit 1
fi
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --window-size="${size/x/,}" --screenshot="$(realpath -m "$png")" "file://$page" 2>/dev/null
echo "wrote $png"
