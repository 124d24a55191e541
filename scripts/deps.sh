#!/usr/bin/env bash
# Installs the Debian 12 packages vrampack builds and tests with, when any is missing.
# Runs apt-get through sudo when not root. Safe to run again: it only installs what is absent.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libglpk-dev glpk-utils libuv1-dev libcjson-dev
      libsqlite3-dev libcmocka-dev libmicrohttpd-dev coinor-cbc clang libclang-rt-14-dev
      valgrind python3 procps coinor-libclp-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "vrampack: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
