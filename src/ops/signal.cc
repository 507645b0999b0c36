// signal.cc — op semantics (schemas + shape/dtype inference) of the signal family.
#include "ops/op_registry.h"

namespace ferry {

void register_signal(OpRegistry& r) {}

}  // namespace ferry
