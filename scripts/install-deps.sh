#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the demo need. Idempotent and
# quiet when everything is already there. Needs root (it is run as root on CI).
set -euo pipefail
# One run at a time: CI starts the sanitizer build (scripts/test-sanitizers.sh) beside
# README command (2), and both begin here; two apt-gets at once would fail on dpkg's lock.
exec 9>/tmp/rollouts-install-deps.lock
flock 9

packages=(
  # toolchain
  cmake ninja-build g++ pkg-config clang-format clang-tidy
  # the fuzz build (scripts/fuzz.sh): clang++ and libFuzzer's runtime
  clang libclang-rt-14-dev
  # libraries (all from Debian; nothing is vendored or downloaded at build time)
  libcpprest-dev libssl-dev nlohmann-json3-dev prometheus-cpp-dev libgoogle-glog-dev
  libgtest-dev libgmock-dev libcli11-dev libboost-dev libsimdjson-dev
  # real parts used by the demo and the end-to-end tests
  nginx haproxy prometheus wrk openssl curl procps iproute2 jq tmux
  # the integration harness (free ports) and the real-agent tier's fault proxy
  python3
)
# Node.js (for the JSON Schema validator ajv in the schema tests) often comes
# preinstalled with its own npm; only ask Debian for it when the commands are missing.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: need root to apt-get install ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # policy-rc.d keeps packages such as nginx and prometheus from starting system
  # services: the demo and the tests start their own instances on 127.0.0.1.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
