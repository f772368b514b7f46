#!/usr/bin/env bash
# Regenerates the generated parts of docs/ from the binary: the scenario key reference in
# docs/scenario.md (`flourish validate --keys --markdown`), the output reference in
# docs/output.md (`flourish validate --outputs --markdown`), each between its NAME:begin and
# NAME:end markers, and the command-line reference docs/cli.md (every command's --help). The
# docs_* tests fail until this is run after a change to the schema, the output registry or a
# help text.
#
#   bash scripts/regen-docs.sh [BIN]    (BIN: default build/flourish)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bin=${1:-build/flourish}

# Replaces the part of FILE between the NAME markers with the output of the command.
splice() {
  local file=$1 name=$2 part
  shift 2
  part=$(mktemp)
  "$@" > "$part"
  awk -v part="$part" -v name="$name" '
    $0 == "<!-- " name ":begin -->" { print; while ((getline line < part) > 0) print line; skip = 1; next }
    $0 == "<!-- " name ":end -->" { skip = 0 }
    !skip { print }' "$file" > "$file.new"
  mv "$file.new" "$file"
  rm -f "$part"
}

splice docs/scenario.md keys "$bin" validate --keys --markdown
splice docs/output.md outputs "$bin" validate --outputs --markdown
bash scripts/gen-cli-doc.sh "$bin" > docs/cli.md
echo "regenerated docs/scenario.md, docs/output.md and docs/cli.md from $bin"
