#!/usr/bin/env bash
# Regenerates the key reference in scenarios/README.md (between the keys:begin and keys:end
# markers) from `flourish validate --keys --markdown`. The docs_keys test fails until this is run
# after a change to engine/schema.c.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=${1:-build/flourish}
table=$(mktemp)
"$bin" validate --keys --markdown > "$table"
awk -v table="$table" '
  /<!-- keys:begin -->/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
  /<!-- keys:end -->/ { skip = 0 }
  !skip { print }' scenarios/README.md > scenarios/README.md.new
mv scenarios/README.md.new scenarios/README.md
rm -f "$table"
