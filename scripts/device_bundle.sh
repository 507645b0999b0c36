#!/usr/bin/env bash
# device_bundle.sh — pack ferry binaries and the shared libraries they need for the `device` GPU machine.
#
#   scripts/device_bundle.sh [BUILD_DIR] [OUT_DIR]        (defaults: build-CUDA, .device)
#
# Collects BUILD_DIR/ferry, BUILD_DIR/tests/ferry_tests and any ferry_cuda_kernels_test under BUILD_DIR (or
# build-*/kernels when BUILD_DIR has none), the .so files they load (ldd) except the C/C++ runtime (libc, libm,
# libstdc++, libgcc_s, ld-linux, ...), which the device has in newer versions, and the CUDA libraries (libcuda is
# the device's driver; cudart/cuBLAS(Lt)/cuDNN/nvrtc come from the device's Python venv, nvidia/*/lib), plus
# bench/gpu_torch_bench.py's companion export_zoo.py, into OUT_DIR/bundle.tar.xz. OUT_DIR is git-ignored
# (.git/info/exclude) and travels with `run` through `carry: [".device"]`; the working tree plus carried paths
# must stay under 64 MiB, which the script checks. Unpack there with scripts/device_unpack.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-CUDA}
OUT=${2:-.device}
[ -x "$BUILD/ferry" ] || { echo "device_bundle: $BUILD/ferry not found (build it first)" >&2; exit 2; }

# Keep OUT_DIR out of git.
exclude="$(git rev-parse --git-dir)/info/exclude"
mkdir -p "$(dirname "$exclude")"
grep -qxF "/$OUT/" "$exclude" 2>/dev/null || echo "/$OUT/" >>"$exclude"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib" "$stage/share"

bins=("$BUILD/ferry")
[ -x "$BUILD/tests/ferry_tests" ] && bins+=("$BUILD/tests/ferry_tests")
mapfile -t kt < <(find "$BUILD" -name ferry_cuda_kernels_test -type f -perm -u+x 2>/dev/null | head -1)
[ ${#kt[@]} -eq 0 ] && mapfile -t kt < <(ls -t build-*/kernels/ferry_cuda_kernels_test 2>/dev/null | head -1)
[ ${#kt[@]} -gt 0 ] && [ -n "${kt[0]}" ] && bins+=("${kt[0]}")
for b in "${bins[@]}"; do cp -L "$b" "$stage/bin/"; done

# Libraries the device already has (C/C++ runtime) or must provide itself (driver, CUDA libraries of its venv).
skip='^(linux-vdso|libc\.so|libm\.so|libstdc\+\+|libgcc_s|ld-linux|libpthread|libdl\.so|librt\.so|libutil|libresolv|libcuda\.so|libcudart|libcublas|libcublasLt|libcudnn|libnvrtc|libnvJitLink|libnvidia-)'
declare -A seen=()
missing=()
for b in "${bins[@]}"; do
  while read -r name arrow path _; do
    [ "$arrow" = "=>" ] || continue
    [[ "$name" =~ $skip ]] && continue
    if [ "$path" = "not" ]; then missing+=("$name"); continue; fi
    [ -n "${seen[$name]:-}" ] && continue
    seen[$name]=1
    cp -L "$path" "$stage/lib/$name"
  done < <(ldd "$b")
done
[ ${#missing[@]} -gt 0 ] && echo "device_bundle: not found here (must exist on the device): ${missing[*]}" >&2

cp /work/shared/peers/export_zoo.py "$stage/share/" 2>/dev/null || echo "device_bundle: no export_zoo.py" >&2
{
  echo "built: $(date -u +%FT%TZ) from $(git rev-parse --short HEAD) ($BUILD)"
  for b in "${bins[@]}"; do echo "bin: $b"; done
  echo "libs: ${!seen[*]}"
} >"$stage/MANIFEST"

mkdir -p "$OUT"
tar -C "$stage" -cf - . | xz -T2 -6 >"$OUT/bundle.tar.xz.tmp"
mv "$OUT/bundle.tar.xz.tmp" "$OUT/bundle.tar.xz"
size=$(stat -c %s "$OUT/bundle.tar.xz")
tree=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
total=$((size + tree))
echo "device_bundle: $OUT/bundle.tar.xz $((size / 1048576)) MiB (${#bins[@]} binaries, ${#seen[@]} libs);" \
  "with the working tree $((total / 1048576)) MiB of the 64 MiB limit"
[ "$total" -lt $((64 * 1048576)) ] || { echo "device_bundle: over the 64 MiB transfer limit" >&2; exit 1; }
