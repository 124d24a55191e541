#!/usr/bin/env bash
# Installs the Debian 12 packages vrampack builds and tests with, when any is missing.
# Runs apt-get through sudo when not root. Safe to run again: it only installs what is absent.
set -euo pipefail
pkgs=(build-essential cmake pkg-config libglpk-dev glpk-utils libuv1-dev libcjson-dev
      libsqlite3-dev libcmocka-dev libmicrohttpd-dev coinor-cbc clang libclang-rt-14-dev
      valgrind python3 procps coinor-libclp-dev coinor-libcbc-dev
      libcurl4-openssl-dev # the CLI's HTTP client
      prometheus           # promtool checks /metrics in the tests
      chromium fonts-dejavu-core nodejs) # the HTML report's browser test; the k8s schema check
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm: Debian's package, unless the machine's Node.js already brings its own.
command -v npm >/dev/null || missing+=(npm)
if [ ${#missing[@]} -gt 0 ]; then
  echo "vrampack: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Kubernetes schema checker of the export tests (npm: kubernetes-models, yaml), pinned by
# tests/cli/k8s/package-lock.json.
k8s="$(dirname "$0")/../tests/cli/k8s"
if [ ! -d "$k8s/node_modules/kubernetes-models" ]; then
  echo "vrampack: installing the Kubernetes schema checker (npm ci in tests/cli/k8s)" >&2
  npm ci --prefix "$k8s" --no-audit --no-fund --loglevel=error >/dev/null
fi
