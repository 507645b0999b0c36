// softmax.cc — op semantics (schemas + shape/dtype inference) of the softmax family.
#include "ops/op_registry.h"

namespace ferry {

void register_softmax(OpRegistry& r) {}

}  // namespace ferry
