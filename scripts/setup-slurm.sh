#!/usr/bin/env bash
# Installs what the Slurm test (tests/slurm.sh) needs on Debian 12, when missing: Debian's
# slurm-wlm (slurmctld, slurmd and the client commands, Slurm 22.05) and munge. Only CI needs
# them: .ci/run calls this; elsewhere the test skips itself without them. The test starts its
# own one-node cluster with its own configuration, key and ports, so the system's services
# (which Debian enables on install, and which stay down without /etc/slurm/slurm.conf) are
# not used.
#
#   sudo bash scripts/setup-slurm.sh
set -euo pipefail

packages=(slurm-wlm munge)
missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "== Slurm and munge are installed"
  exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "setup-slurm.sh: missing ${missing[*]}; run: sudo bash scripts/setup-slurm.sh" >&2
  exit 1
fi
echo "== Installing ${missing[*]} for the Slurm test"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
