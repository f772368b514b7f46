#!/usr/bin/env bash
# Prints docs/cli.md, the command-line reference, from the --help output of flourish and of each
# of its commands (in the order the main help lists them, which is that of the command table in
# engine/cli/main.c). The docs_cli test fails until this is run after a change to a help text:
#
#   scripts/gen-cli-doc.sh build/flourish > docs/cli.md
set -euo pipefail
bin=${1:-build/flourish}
main_help=$("$bin" --help)
# The commands: the first word of each entry under "Commands:", up to the blank line.
commands=$(printf '%s\n' "$main_help" |
  awk '/^Commands:$/ { on = 1; next } on && /^$/ { exit } on && /^  [a-z]/ { print $1 }')
if [ -z "$commands" ]; then
  echo "gen-cli-doc.sh: no commands found in '$bin --help'" >&2
  exit 1
fi

section() {
  printf '\n## %s\n\n```text\n' "$1"
  shift
  "$bin" "$@"
  printf '```\n'
}

cat <<'HEADER'
# The flourish command line

Generated from the `--help` output of `flourish` and of each of its commands by
`scripts/gen-cli-doc.sh`; do not edit it by hand. After changing a help text, regenerate it:

    scripts/gen-cli-doc.sh build/flourish > docs/cli.md

(the `docs_cli` test fails until then).
HEADER
section flourish --help
for c in $commands; do section "flourish $c" "$c" --help; done
