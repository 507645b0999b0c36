// model_stats.h — what `ferry inspect` reports: op histogram, parameters by dtype, MACs per layer.
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "ferry/status.h"
#include "ir/graph.h"

namespace ferry {

struct LayerStats {
  std::string node;  // display name
  std::string op_type;
  int64_t macs = 0;  // multiply-accumulates for the inferred shapes; 0 when unknown or not a MAC op
  std::string output_shape;
};

struct ParamStats {
  int64_t count = 0;
  int64_t bytes = 0;
};

struct ModelStats {
  int64_t node_count = 0;
  std::map<std::string, int64_t> op_histogram;
  std::map<std::string, ParamStats> params_by_dtype;  // dtype name -> count/bytes of initializers
  int64_t total_params = 0;
  int64_t total_param_bytes = 0;
  std::vector<LayerStats> layers;  // nodes with MACs > 0, graph order
  int64_t total_macs = 0;
  std::vector<std::string> warnings;
};

// Infers shapes with `input_shapes` (unknown dims default to 1) and counts. Modifies graph.value_info.
Expected<ModelStats> compute_model_stats(Graph& graph, const std::unordered_map<std::string, Shape>& input_shapes);

}  // namespace ferry
