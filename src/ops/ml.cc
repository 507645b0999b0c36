// ml.cc — op semantics (schemas + shape/dtype inference) of the ml family.
#include "ops/op_registry.h"

namespace ferry {

void register_ml(OpRegistry& r) {}

}  // namespace ferry
