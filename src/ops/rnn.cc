// rnn.cc — op semantics (schemas + shape/dtype inference) of the rnn family.
#include "ops/op_registry.h"

namespace ferry {

void register_rnn(OpRegistry& r) {}

}  // namespace ferry
