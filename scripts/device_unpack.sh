#!/usr/bin/env bash
# device_unpack.sh — on the `device` machine: unpack .device/bundle.tar.xz (see device_bundle.sh) and write an
# environment file that finds the carried libraries and the CUDA libraries of the device's Python venv.
#
#   scripts/device_unpack.sh [BUNDLE] [DEST]     (defaults: .device/bundle.tar.xz, /tmp/ferry-device)
#   . /tmp/ferry-device/env.sh                    (PATH gains bin/, LD_LIBRARY_PATH the libraries)
#
# Ends by checking every carried binary with ldd and printing any library still not found (exit 1 then).
set -euo pipefail
cd "$(dirname "$0")/.."
BUNDLE=${1:-.device/bundle.tar.xz}
DEST=${2:-/tmp/ferry-device}
[ -f "$BUNDLE" ] || { echo "device_unpack: $BUNDLE not found (carry .device)" >&2; exit 2; }
rm -rf "$DEST" && mkdir -p "$DEST"
xz -dc "$BUNDLE" | tar -C "$DEST" -xf -

# CUDA libraries shipped as pip wheels (nvidia-cudnn-cu13, nvidia-cublas, nvidia-cuda-runtime, ...).
cuda_dirs=""
nv=$(python3 -c 'import nvidia, os; print(os.pathsep.join(list(nvidia.__path__)))' 2>/dev/null || true)
if [ -n "$nv" ]; then
  IFS=: read -r -a roots <<<"$nv"
  cuda_dirs=$(find "${roots[@]}" -name 'lib*.so*' -printf '%h\n' 2>/dev/null | sort -u | paste -sd: -)
fi
cat >"$DEST/env.sh" <<ENV
export PATH="$DEST/bin:\$PATH"
export LD_LIBRARY_PATH="$DEST/lib${cuda_dirs:+:$cuda_dirs}\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
ENV
# shellcheck disable=SC1091
. "$DEST/env.sh"
cat "$DEST/MANIFEST"
bad=0
for b in "$DEST"/bin/*; do
  nf=$(ldd "$b" | grep 'not found' || true)
  if [ -n "$nf" ]; then echo "device_unpack: $(basename "$b") misses: $nf" >&2; bad=1; fi
done
echo "device_unpack: $DEST ready ($(ls "$DEST/lib" | wc -l) carried libs)"
exit $bad
