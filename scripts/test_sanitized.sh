#!/usr/bin/env bash
# Builds ferry with AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/) and runs the unit tests, the CLI
# bad-input tests and the ONNX conformance suite under them. Any sanitizer report fails the run.
#   bash scripts/test_sanitized.sh            everything (conformance takes ~3x longer than unsanitized)
#   FERRY_ASAN_FILTER='^test_(conv|gather)' bash scripts/test_sanitized.sh    a conformance subset
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${FERRY_SHARED_DIR:-../shared}
launcher=(); command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFERRY_SANITIZE=ON "${launcher[@]}" >/dev/null
ninja -C build-asan -j"$(nproc)" ferry ferry_tests
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
build-asan/tests/ferry_tests --gtest_brief=1
/usr/bin/python3 tests/cli/cli_test.py build-asan/ferry tests/fixtures
filter=()
[ -n "${FERRY_ASAN_FILTER:-}" ] && filter=(--filter "$FERRY_ASAN_FILTER")
# A sanitizer report makes ferry exit non-zero, so it shows as a failure with the report's last lines.
/usr/bin/python3 "$shared/conformance/check.py" --suite "$shared/conformance/onnx-node" --jobs 2 --timeout 300 \
  --cmd 'build-asan/ferry run {model} {inputs} --output-dir {outdir} --threads 1 --quiet' --quiet-summary \
  --exclude-file "$shared/conformance/exclude-nondeterministic.txt" "${filter[@]}" --json build-asan/conformance.json
