// onnx_convert.h — private to src/ir/onnx_*.cc: TensorProto <-> Tensor conversion.
#pragma once

#include <onnx/onnx.pb.h>

#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ferry/status.h"
#include "ferry/tensor.h"

namespace ferry {

// `base_dir` resolves external data; empty refuses it. `what` names the tensor in errors ("initializer 'w'").
Expected<Tensor> tensor_from_proto(const onnx::TensorProto& p, const std::string& base_dir, const std::string& what);
// Same, but may take `p`'s raw_data bytes instead of copying them (large plain-typed tensors): the tensor then
// views the protobuf's string, which it keeps alive. `p` is left without raw_data in that case.
Expected<Tensor> take_tensor_from_proto(onnx::TensorProto* p, const std::string& base_dir, const std::string& what);
void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* p);
// True when raw_data of `raw_size` bytes fills `p` byte for byte (a plain numeric type, in-file, consistent
// dims): then the bytes can be used as the tensor's storage as they are. Sets *dtype and *shape.
bool raw_is_storage(const onnx::TensorProto& p, size_t raw_size, DType* dtype, Shape* shape);
// Where one initializer's raw_data lies in the original model bytes (offset < 0: the tensor has none).
struct RawSpan {
  int64_t offset = -1;
  int64_t size = 0;
};
// Model bytes without the top-level graph's initializer raw_data, and where that data lies (one span per
// initializer, in order). nullopt when the wire format is unusual (groups, repeated graphs, malformed): the
// caller then parses the original bytes, which also produces the error message for malformed input.
struct ModelSkeleton {
  std::string bytes;
  std::vector<RawSpan> initializer_raw;
};
std::optional<ModelSkeleton> strip_initializer_data(const void* data, size_t size);
// One prefaulted block that initializers are copied into (64-byte aligned slots); nullptr on failure.
std::shared_ptr<void> allocate_weight_arena(size_t bytes);
// Reads an opened file completely in one read (istreambuf_iterator is ~10x slower on 100 MB models).
Status read_whole_file(std::ifstream& f, const std::string& path, std::string* out);

}  // namespace ferry
