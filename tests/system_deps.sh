#!/usr/bin/env bash
# Debian packages the test suite needs beyond pip: the SLURM daemons and munge for the real
# SLURM test. Installed only when missing; without root or apt-get the SLURM test skips and says why.
set -euo pipefail
needed=(slurmctld slurmd sbatch munged)
missing=0
for cmd in "${needed[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || [ -x "/usr/sbin/$cmd" ] || missing=1
done
[ "$missing" = 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing slurmctld slurmd slurm-client munge (Debian packages) for the SLURM test" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null
else
  echo "warning: cannot install the SLURM daemons (needs root and apt-get); the SLURM test will skip" >&2
fi
