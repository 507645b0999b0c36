// training.cc — op semantics (schemas + shape/dtype inference) of the training family.
#include "ops/op_registry.h"

namespace ferry {

void register_training(OpRegistry& r) {}

}  // namespace ferry
