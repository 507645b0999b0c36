// random_inputs.h — seeded random tensors for models run without input files (run, bench, inspect).
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "ferry/session.h"

namespace ferry::cli {

// Parses "name:1x3x224x224" into (name, shape); error names the bad spec.
Expected<std::pair<std::string, Shape>> parse_shape_spec(const std::string& spec);
// Shape for an input: an override, else the declared dims with unknown/symbolic dims set to `default_dim`.
Expected<Shape> resolve_input_shape(const IoInfo& info, const std::unordered_map<std::string, Shape>& overrides,
                                    int64_t default_dim = 1);
// Floats uniform in [-1, 1), ints in [0, 8), bools fair, strings "s<i>"; same seed, same tensor.
Tensor random_tensor(DType dtype, const Shape& shape, uint64_t seed);

}  // namespace ferry::cli
