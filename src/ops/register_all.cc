// register_all.cc — the one list of op families (explicit calls; no static self-registration).
#include "ops/op_registry.h"

namespace ferry {

void register_elementwise(OpRegistry& r);
void register_cast(OpRegistry& r);
void register_shape(OpRegistry& r);
void register_indexing(OpRegistry& r);
void register_conv(OpRegistry& r);
void register_pool(OpRegistry& r);
void register_norm(OpRegistry& r);
void register_resize(OpRegistry& r);
void register_reduce(OpRegistry& r);
void register_softmax(OpRegistry& r);
void register_matmul(OpRegistry& r);
void register_loss(OpRegistry& r);
void register_attention(OpRegistry& r);
void register_quant(OpRegistry& r);
void register_rnn(OpRegistry& r);
void register_signal(OpRegistry& r);
void register_control_flow(OpRegistry& r);
void register_string(OpRegistry& r);
void register_ml(OpRegistry& r);
void register_detection(OpRegistry& r);
void register_random(OpRegistry& r);
void register_training(OpRegistry& r);
void register_image(OpRegistry& r);
void register_fused_transformer(OpRegistry& r);
void register_fused_conv(OpRegistry& r);
void register_squeeze_excite(OpRegistry& r);

void register_all_ops(OpRegistry& r) {
  register_elementwise(r);
  register_cast(r);
  register_shape(r);
  register_indexing(r);
  register_conv(r);
  register_pool(r);
  register_norm(r);
  register_resize(r);
  register_reduce(r);
  register_softmax(r);
  register_matmul(r);
  register_loss(r);
  register_attention(r);
  register_quant(r);
  register_rnn(r);
  register_signal(r);
  register_control_flow(r);
  register_string(r);
  register_ml(r);
  register_detection(r);
  register_random(r);
  register_training(r);
  register_image(r);
  register_fused_transformer(r);
  register_fused_conv(r);
  register_squeeze_excite(r);
}

}  // namespace ferry
