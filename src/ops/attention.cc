// attention.cc — op semantics (schemas + shape/dtype inference) of the attention family.
#include "ops/op_registry.h"

namespace ferry {

void register_attention(OpRegistry& r) {}

}  // namespace ferry
