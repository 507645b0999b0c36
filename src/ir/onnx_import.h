// onnx_import.h — the only door between ONNX protobuf files and ferry's IR (src/ir/graph.h).
//
//   FERRY_ASSIGN_OR_RETURN(Model m, load_onnx_model("resnet50.onnx"));
//   FERRY_ASSIGN_OR_RETURN(NamedTensor in, read_tensor_file("test_data_set_0/input_0.pb"));
//   FERRY_RETURN_IF_ERROR(write_tensor_file("out/output_0.pb", tensor, "y"));
//
// Import handles every TensorProto element type (typed fields and raw_data, packed 4/2-bit types), external data
// (data_location EXTERNAL; only relative paths inside the model's folder are accepted), attributes of every
// kind, subgraphs (If/Loop/Scan bodies, with the values they read from enclosing scopes recorded in
// Graph::outer_refs) and model-local functions (inlined). Malformed files give InvalidArgument naming the
// tensor/node/attribute at fault; nothing here aborts on hostile input.
#pragma once

#include <string>

#include "ferry/status.h"
#include "ir/graph.h"

namespace ferry {

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

// Where import time goes (FERRY_LOAD_PROFILE): reading the file, protobuf parsing, protobuf -> IR conversion.
struct ImportTimings {
  double read_ms = 0, parse_ms = 0, convert_ms = 0;
};

// Reads and parses a model file; external data is resolved against the file's folder.
Expected<Model> load_onnx_model(const std::string& path, ImportTimings* timings = nullptr);
// Parses model bytes. `base_dir` is the folder external data is read from; empty refuses external data.
Expected<Model> parse_onnx_model(const void* data, size_t size, const std::string& base_dir,
                                 ImportTimings* timings = nullptr);
// Serializes a model (initializers inline) to a file: used by `ferry optimize`.
Status save_onnx_model(const Model& model, const std::string& path);

// TensorProto files (as in ONNX test_data_set_* folders).
Expected<NamedTensor> read_tensor_file(const std::string& path);
Expected<NamedTensor> parse_tensor(const void* data, size_t size);
Status write_tensor_file(const std::string& path, const Tensor& tensor, const std::string& name);

}  // namespace ferry
