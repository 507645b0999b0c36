// pool.cc — op semantics (schemas + shape/dtype inference) of the pool family.
#include "ops/op_registry.h"

namespace ferry {

void register_pool(OpRegistry& r) {}

}  // namespace ferry
