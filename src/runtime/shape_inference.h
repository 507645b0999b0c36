// shape_inference.h — static type/shape inference over a whole graph (and constant propagation of small
// values, so shape computations like Shape -> Gather -> Concat -> Reshape resolve when the input shape is known).
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "ferry/status.h"
#include "ir/graph.h"

namespace ferry {

struct InferenceReport {
  std::vector<std::string> warnings;  // nodes whose inference failed statically (run time re-checks them)
};

// Fills graph.value_info for every value it can type. `input_shapes` overrides declared input shapes
// (e.g. inspect's --shape). Returns an error only for an operator without a schema.
Expected<InferenceReport> infer_graph_types(Graph& graph, const std::unordered_map<std::string, Shape>& input_shapes);

}  // namespace ferry
