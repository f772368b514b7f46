#!/usr/bin/env bash
# Installs what Flourish needs on Debian 12 (only the packages that are missing) and builds it.
#
#   sudo bash scripts/setup.sh        install missing packages, then build into build/
#   bash scripts/setup.sh             the same, when every package is already installed
#
# Environment:
#   FLOURISH_BUILD_DIR   build directory (default: build)
#   FLOURISH_BUILD_TYPE  CMake build type (default: Release)
#   FLOURISH_WERROR      ON to treat compiler warnings as errors (default: OFF)
#   FLOURISH_JOBS        parallel build jobs (default: the number of cores)
#   FLOURISH_NO_BUILD    1 to install packages only
#
# Safe to run again: installed packages are skipped and the build is incremental.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# build-essential, cmake, pkg-config: the toolchain. git: the commit recorded in outputs.
# libhdf5-dev, libgsl-dev, libyaml-dev, zlib1g-dev (checksums), libdeflate-dev (the engine
# compresses HDF5 chunks itself, in parallel, into the zlib streams HDF5 reads): the libraries
# the engine links. hdf5-tools: h5dump and
# h5ls for looking inside outputs. python3-h5py, python3-matplotlib: `flourish report` and
# reading outputs from Python. valgrind, clang,
# libomp-dev, libclang-rt-14-dev: the memory checks and the ThreadSanitizer build of the tests.
# libxlsxwriter-dev: the workbook of `flourish summary --xlsx`. python3-yaml: the report reads
# the scenario the output keeps (dates, currency, labels). python3-openpyxl: the test that reads
# the workbook back the way a spreadsheet does. libmicrohttpd-dev, libjansson-dev: the HTTP
# server and the JSON of `flourish serve`.
packages=(build-essential cmake pkg-config git libhdf5-dev zlib1g-dev libdeflate-dev hdf5-tools libgsl-dev libyaml-dev
          python3-h5py python3-matplotlib valgrind clang libomp-dev libclang-rt-14-dev libopenmpi-dev openmpi-bin libcsv-dev
          libxlsxwriter-dev python3-yaml python3-openpyxl libmicrohttpd-dev libjansson-dev)

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "setup.sh: dpkg-query not found. This script installs Debian packages; on another system" >&2
  echo "install the equivalents of: ${packages[*]}" >&2
  exit 1
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: these packages are missing: ${missing[*]}" >&2
    echo "Installing them needs root. Run: sudo bash scripts/setup.sh" >&2
    echo "(or: sudo apt-get install --no-install-recommends ${missing[*]})" >&2
    exit 1
  fi
  echo "== Installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "== All ${#packages[@]} packages are installed"
fi

[ "${FLOURISH_NO_BUILD:-0}" = 1 ] && exit 0

# shellcheck source=scripts/build-settings.sh
. "$(dirname "${BASH_SOURCE[0]}")/build-settings.sh"

echo "== Building into $build (${FLOURISH_BUILD_TYPE:-Release}, FLOURISH_WERROR=$werror)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE="${FLOURISH_BUILD_TYPE:-Release}" \
  -DFLOURISH_WERROR="$werror"
cmake --build "$build" -j "$jobs"

# Under sudo, hand the build back to the user who asked for it, so that later runs without
# sudo can rebuild in it.
if [ "$(id -u)" -eq 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
  chown -R "$SUDO_USER:$(id -gn "$SUDO_USER")" "$build"
fi
echo "== Built $build/flourish"
