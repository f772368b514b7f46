# Shared by the command-line test scripts (sourced): a temporary directory removed on exit, and
# check/finish, which count and report passed and failed checks like the C tests do.
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
passed=0 failed=0
# Runs a command as one check: counted, and printed when it fails.
check() { if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAILED: $*"; fi; }
# Prints "NAME: N passed, M failed" and fails the script if any check failed.
finish() {
  echo "$1: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}
