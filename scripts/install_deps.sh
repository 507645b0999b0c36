#!/usr/bin/env bash
# Installs the Debian packages ferry needs to build, test and compare against its peer. Idempotent: packages
# already present are not downloaded again, and apt's index is refreshed only when something is missing.
#   bash scripts/install_deps.sh          build + test dependencies
#   FERRY_NO_ZOO=1 bash scripts/...       skip python3-torch/torchvision (only needed to export the model zoo)
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config
  libprotobuf-dev protobuf-compiler libonnx-dev      # ONNX format
  libdnnl-dev                                         # oneDNN CPU primitives
  libcli11-dev libfmt-dev nlohmann-json3-dev          # CLI, formatting, JSON
  libboost-dev                                        # ferry serve: Boost.Asio/Beast (header-only)
  libgrpc++-dev protobuf-compiler-grpc                # ferry serve --grpc-port, ferry perf -i grpc
  python3-grpcio python3-grpc-tools                   # gRPC e2e test: client generated from the published proto
  libgtest-dev libgmock-dev libbenchmark-dev          # tests and benchmarks
  clang libclang-rt-14-dev                            # libFuzzer + sanitizers
  python3-onnx python3-numpy                          # conformance checker, fixtures
  python3-sklearn                                     # scripts/digits_accuracy.py (bundled digits dataset)
  nodejs npm                                          # ONNX Runtime peer (onnxruntime-node)
  locales
  zlib1g libjpeg62-turbo libopenjp2-7 libwebp7             # ImageDecoder codecs (loaded with dlopen)
)
if [ -z "${FERRY_NO_ZOO:-}" ]; then packages+=(python3-torch python3-torchvision); fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node/npm may come from outside Debian on some machines: accept any working node >= 18.
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
if [ "${#missing[@]}" -gt 0 ]; then
  echo "[install_deps] installing: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  echo "[install_deps] all Debian packages present"
fi
# StringNormalizer tests need the en_US.UTF-8 locale.
if ! locale -a 2>/dev/null | grep -qi '^en_US.utf8$'; then
  $SUDO sed -i 's/^# *en_US.UTF-8 UTF-8/en_US.UTF-8 UTF-8/' /etc/locale.gen && $SUDO locale-gen >/dev/null || true
fi
