#!/usr/bin/env bash
# Installs what Sluice needs to build on a Debian/Ubuntu machine with Swift 6.1+:
# libzmq (libzmq3-dev) and pkg-config. Safe to run again: it installs only what is missing.
# With --cluster it also installs etcd (etcd-server), which the cluster tests start on loopback
# (docs/CLUSTER.md); with --jvm, Scala 2.11 and JeroMQ (scala, libjeromq-java) for the JVM
# connector (clients/jvm, docs/OPENWHISK-CONNECTOR.md). scripts/test.sh passes both.
set -euo pipefail

need=()
for option in "$@"; do
  case "$option" in
    --cluster) command -v etcd >/dev/null 2>&1 || need+=(etcd-server) ;;
    --jvm)
      command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)
      command -v scalac >/dev/null 2>&1 || need+=(scala)
      [ -f /usr/share/java/jeromq.jar ] || need+=(libjeromq-java)
      ;;
    *) echo "setup: unknown option $option (known: --cluster, --jvm)" >&2; exit 2 ;;
  esac
done
if ! pkg-config --exists libzmq 2>/dev/null && [ ! -f /usr/include/zmq.h ]; then
  need+=(libzmq3-dev)
fi
command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]} (apt-get)"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "setup: need root or sudo to install ${need[*]}" >&2; exit 1; }
    SUDO="sudo"
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The Python peer's interop tests need pyzmq and pytest (from PyPI).
if ! python3 -c 'import zmq, pytest' 2>/dev/null; then
  echo "setup: installing pyzmq and pytest (pip)"
  python3 -m pip install --quiet --disable-pip-version-check pyzmq pytest
fi

command -v swift >/dev/null 2>&1 || { echo "setup: swift is not on PATH; install Swift 6.1 or later" >&2; exit 1; }
echo "setup: libzmq $(pkg-config --modversion libzmq 2>/dev/null || echo '(headers present)'), $(swift --version 2>/dev/null | head -1)"
