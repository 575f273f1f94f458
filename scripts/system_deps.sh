#!/usr/bin/env bash
# Installs the system packages the project needs (PostgreSQL 15 + PostGIS 3) when they are missing.
# Debian/Ubuntu only. Runs apt-get as root, or through sudo when not root.
set -euo pipefail
PG_MAJOR="${PG_MAJOR:-15}"
need=()
[ -x "/usr/lib/postgresql/${PG_MAJOR}/bin/initdb" ] || need+=("postgresql-${PG_MAJOR}")
[ -f "/usr/share/postgresql/${PG_MAJOR}/extension/postgis.control" ] || need+=("postgresql-${PG_MAJOR}-postgis-3")
command -v psql >/dev/null || need+=("postgresql-client-${PG_MAJOR}")
if [ "${#need[@]}" -eq 0 ]; then
  exit 0
fi
echo "system_deps: installing ${need[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "system_deps: need root or sudo to install ${need[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
# We run our own cluster in the project folder: do not let the package create and start one on 5432.
$SUDO mkdir -p /etc/postgresql-common
if [ ! -f /etc/postgresql-common/createcluster.conf ]; then
  echo "create_main_cluster = false" | $SUDO tee /etc/postgresql-common/createcluster.conf >/dev/null
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "system_deps: done"
