// matmul.cc — op semantics (schemas + shape/dtype inference) of the matmul family.
#include "ops/op_registry.h"

namespace ferry {

void register_matmul(OpRegistry& r) {}

}  // namespace ferry
