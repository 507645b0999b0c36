// quant.cc — op semantics (schemas + shape/dtype inference) of the quant family.
#include "ops/op_registry.h"

namespace ferry {

void register_quant(OpRegistry& r) {}

}  // namespace ferry
