// calib_data.h — calibration batches from a folder: subfolders of TensorProto (.pb) or .npy files (one batch per
// subfolder, like ONNX test_data_set_*), or, with no subfolders, the files of the folder itself (one batch per
// file for single-input models, else all files form one batch). Tensors bind to graph inputs by name when the
// file names one (TensorProto name, or npy file stem), else by position.
#pragma once

#include <string>
#include <vector>

#include "ferry/status.h"
#include "ir/graph.h"

namespace ferry::quant {

struct CalibData {
  std::vector<std::vector<Tensor>> batches;  // graph-input order
  std::vector<std::string> names;            // where each batch came from (for error messages)
};

Expected<CalibData> load_calibration_folder(const Graph& g, const std::string& dir);
// A .npy file (little-endian float32/float64/int64/int32/int8/uint8/bool, C order).
Expected<Tensor> read_npy(const std::string& path);

}  // namespace ferry::quant
