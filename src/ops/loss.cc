// loss.cc — op semantics (schemas + shape/dtype inference) of the loss family.
#include "ops/op_registry.h"

namespace ferry {

void register_loss(OpRegistry& r) {}

}  // namespace ferry
