// fuzz_model_loader.cc — libFuzzer target for everything a model file reaches before it runs: protobuf parsing,
// IR conversion (attributes, subgraphs, functions), topological sort, verification, shape inference and kernel
// creation; plus TensorProto input parsing. Any crash, hang or sanitizer report is a bug.
//
//   CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DFERRY_FUZZ=ON -DFERRY_TESTS=OFF
//   ninja -C build-fuzz fuzz_model_loader
//   build-fuzz/fuzz_model_loader -max_total_time=300 -rss_limit_mb=4096 tests/fixtures/   (corpus: seed models)
#include <cstddef>
#include <cstdint>

#include "ferry/session.h"
#include "ir/onnx_import.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ferry::SessionOptions opts;
  opts.threads = 1;
  auto session = ferry::Session::load_from_memory(data, size, opts);
  (void)session;
  auto tensor = ferry::parse_tensor(data, size);
  (void)tensor;
  return 0;
}
