// reduce.cc — op semantics (schemas + shape/dtype inference) of the reduce family.
#include "ops/op_registry.h"

namespace ferry {

void register_reduce(OpRegistry& r) {}

}  // namespace ferry
