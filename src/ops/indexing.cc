// indexing.cc — op semantics (schemas + shape/dtype inference) of the indexing family.
#include "ops/op_registry.h"

namespace ferry {

void register_indexing(OpRegistry& r) {}

}  // namespace ferry
