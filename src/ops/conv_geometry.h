// conv_geometry.h — sliding-window geometry shared by the conv and pool families (inference and kernels).
//
// Conv, ConvTranspose, DeformConv, AveragePool, MaxPool, LpPool and MaxUnpool all describe a window over the
// spatial dims with kernel_shape/strides/dilations/pads/auto_pad (and ceil_mode for pools). WindowAttrs reads and
// validates those attributes once; window_output() resolves auto_pad/ceil_mode into concrete output sizes and
// effective pads, with the ONNX rules:
//   NOTSET:      out = floor_or_ceil((in + pb + pe - ((k-1)*d+1)) / s) + 1; with ceil_mode the last window must
//                start inside the input or the begin pad, else out -= 1 (PyTorch/ONNX reference rule).
//   SAME_UPPER/LOWER: out = ceil(in / s); total pad = max(0, (out-1)*s + (k-1)*d+1 - in), the odd unit goes to
//                the end (UPPER) or the begin (LOWER).
//   VALID:       out = ceil((in - ((k-1)*d+1) + 1) / s), no pads.
//
//   FERRY_ASSIGN_OR_RETURN(WindowAttrs w, WindowAttrs::parse(node, 2, {3, 3}, /*allow_ceil=*/false));
//   FERRY_ASSIGN_OR_RETURN(WindowOut o, window_output(w, {224, 224}));   // o.out, o.pads
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ferry/status.h"
#include "ir/graph.h"

namespace ferry {

struct WindowAttrs {
  int nsp = 0;                     // number of spatial dims
  std::vector<int64_t> kernel;     // nsp
  std::vector<int64_t> strides;    // nsp, default 1
  std::vector<int64_t> dilations;  // nsp, default 1
  std::vector<int64_t> pads;       // 2*nsp: begins then ends, default 0
  std::string auto_pad = "NOTSET";
  bool ceil_mode = false;

  // Reads the attributes of `node`. `kernel` is used when the node has no kernel_shape attribute (conv: from
  // the weight shape); an empty `kernel` with no attribute is an error. Errors are plain messages (the caller
  // prefixes the node name).
  static Expected<WindowAttrs> parse(const Node& node, int nsp, const std::vector<int64_t>& kernel);
};

struct WindowOut {
  std::vector<int64_t> out;   // output spatial sizes
  std::vector<int64_t> pads;  // effective pads (begins then ends) after auto_pad
};

// Output size and effective pads for concrete input spatial sizes. Error when the output would be empty/negative.
Expected<WindowOut> window_output(const WindowAttrs& w, const std::vector<int64_t>& in);

// Output spatial dims for possibly-symbolic input dims (unknown dims give unknown outputs).
Expected<std::vector<Dim>> window_output_dims(const WindowAttrs& w, const std::vector<Dim>& in);

// ConvTranspose: output spatial sizes and effective pads (output_shape / output_padding / auto_pad rules).
struct ConvTransposeGeom {
  std::vector<int64_t> out;
  std::vector<int64_t> pads;            // begins then ends
  std::vector<int64_t> output_padding;  // nsp
};
Expected<ConvTransposeGeom> conv_transpose_geometry(const Node& node, const WindowAttrs& w,
                                                    const std::vector<int64_t>& in);

}  // namespace ferry
