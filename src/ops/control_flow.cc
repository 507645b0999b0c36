// control_flow.cc — op semantics (schemas + shape/dtype inference) of the control_flow family.
#include "ops/op_registry.h"

namespace ferry {

void register_control_flow(OpRegistry& r) {}

}  // namespace ferry
