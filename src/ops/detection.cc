// detection.cc — op semantics (schemas + shape/dtype inference) of the detection family.
#include "ops/op_registry.h"

namespace ferry {

void register_detection(OpRegistry& r) {}

}  // namespace ferry
