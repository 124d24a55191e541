#!/usr/bin/env bash
# test_report_html.sh - the HTML cost review of examples/review.json, rendered by headless
# Chromium at 800 and 1600 px: the screenshots are real pictures of the right width, the page
# never gets wider than the window, the pictures and the decision tables fit, and no value breaks
# across lines. The page itself is checked to fetch nothing and run nothing.
# Usage: test_report_html.sh PATH/TO/vrampack SOURCE_DIR [OUT_DIR]   (exit 77: no chromium)
set -uo pipefail
vp=$1
src=$2
out=${3:-$(mktemp -d)}
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "skip: chromium is not installed (scripts/deps.sh installs it)"
  exit 77
fi
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 passes=0
check() { # name, condition...
  local name=$1; shift
  if "$@"; then echo "ok   $name"; passes=$((passes + 1)); else echo "FAIL $name"; fails=$((fails + 1)); fi
}
chrome() { # headless Chromium with a throwaway profile; its own chatter goes to a log
  timeout 60 "$browser" --headless=new --no-sandbox --disable-gpu --hide-scrollbars \
    --no-first-run --user-data-dir="$tmp/profile" "$@" 2>>"$tmp/chromium.log"
}

(cd "$src/examples" && "$vp" plan review.json --report html) >"$out/review.html" 2>"$tmp/err"
check "the review renders as HTML" grep -q '<svg class="pic packing"' "$out/review.html"
check "the page runs no script" bash -c "! grep -qi '<script' '$out/review.html'"
check "the page fetches nothing" bash -c "! grep -Eqi 'https?:|src=|<link|@import' '$out/review.html'"

# The probe goes into a copy, just before </body>; the report stays script-free.
sed 's#</body>#<script src="report_probe.js"></script></body>#' "$out/review.html" \
  >"$tmp/probe.html"
cp "$(dirname "$0")/report_probe.js" "$tmp/"
for width in 800 1600; do
  chrome --window-size=$width,1400 --screenshot="$out/review-$width.png" \
    "file://$out/review.html" >/dev/null
  check "screenshot at $width px is a real picture" \
    python3 "$(dirname "$0")/png_check.py" "$out/review-$width.png" $width
  probe=$(chrome --window-size=$width,1400 --dump-dom "file://$tmp/probe.html" |
    grep -o 'PROBE [^<]*')
  echo "     $probe"
  check "at $width px the page is no wider than the window" grep -q 'page_fits=1' <<<"$probe"
  check "at $width px both pictures are drawn and fit" \
    grep -Eq 'pictures=2 pictures_fit=1' <<<"$probe"
  check "at $width px the baseline and bill tables fit" grep -q 'key_tables_fit=1' <<<"$probe"
  check "at $width px no value breaks across lines" grep -Eq 'cells=[1-9][0-9]* wrapped=0' \
    <<<"$probe"
done

echo "$passes passed, $fails failed"
[ $fails -eq 0 ]
