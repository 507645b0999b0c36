// onnx_convert.h — private to src/ir/onnx_*.cc: TensorProto <-> Tensor conversion.
#pragma once

#include <onnx/onnx.pb.h>

#include <fstream>
#include <string>

#include "ferry/status.h"
#include "ferry/tensor.h"

namespace ferry {

// `base_dir` resolves external data; empty refuses it. `what` names the tensor in errors ("initializer 'w'").
Expected<Tensor> tensor_from_proto(const onnx::TensorProto& p, const std::string& base_dir, const std::string& what);
void tensor_to_proto(const Tensor& t, const std::string& name, onnx::TensorProto* p);
// Reads an opened file completely in one read (istreambuf_iterator is ~10x slower on 100 MB models).
Status read_whole_file(std::ifstream& f, const std::string& path, std::string* out);

}  // namespace ferry
