# Build settings shared by setup.sh and test.sh (sourced, not run): the build directory, whether
# warnings are errors, and the number of parallel jobs, from the environment.
build=${FLOURISH_BUILD_DIR:-build}
werror=OFF
case "${FLOURISH_WERROR:-}" in
  1 | ON | on | On | TRUE | true | YES | yes) werror=ON ;;
esac
jobs=${FLOURISH_JOBS:-$(nproc 2>/dev/null || echo 2)}
