// register_all_kernels.cc — the one list of CPU kernel families (explicit calls).
#include "backends/cpu/kernel.h"

namespace ferry {

void register_elementwise_kernels(KernelRegistry& r);
void register_cast_kernels(KernelRegistry& r);
void register_shape_kernels(KernelRegistry& r);
void register_indexing_kernels(KernelRegistry& r);
void register_conv_kernels(KernelRegistry& r);
void register_pool_kernels(KernelRegistry& r);
void register_norm_kernels(KernelRegistry& r);
void register_resize_kernels(KernelRegistry& r);
void register_reduce_kernels(KernelRegistry& r);
void register_softmax_kernels(KernelRegistry& r);
void register_matmul_kernels(KernelRegistry& r);
void register_loss_kernels(KernelRegistry& r);
void register_attention_kernels(KernelRegistry& r);
void register_quant_kernels(KernelRegistry& r);
void register_rnn_kernels(KernelRegistry& r);
void register_signal_kernels(KernelRegistry& r);
void register_control_flow_kernels(KernelRegistry& r);
void register_string_kernels(KernelRegistry& r);
void register_ml_kernels(KernelRegistry& r);
void register_detection_kernels(KernelRegistry& r);
void register_random_kernels(KernelRegistry& r);
void register_training_kernels(KernelRegistry& r);
void register_image_kernels(KernelRegistry& r);
void register_fused_transformer_kernels(KernelRegistry& r);
void register_fused_conv_kernels(KernelRegistry& r);
void register_squeeze_excite_kernels(KernelRegistry& r);

void register_all_cpu_kernels(KernelRegistry& r) {
  register_elementwise_kernels(r);
  register_cast_kernels(r);
  register_shape_kernels(r);
  register_indexing_kernels(r);
  register_conv_kernels(r);
  register_pool_kernels(r);
  register_norm_kernels(r);
  register_resize_kernels(r);
  register_reduce_kernels(r);
  register_softmax_kernels(r);
  register_matmul_kernels(r);
  register_loss_kernels(r);
  register_attention_kernels(r);
  register_quant_kernels(r);
  register_rnn_kernels(r);
  register_signal_kernels(r);
  register_control_flow_kernels(r);
  register_string_kernels(r);
  register_ml_kernels(r);
  register_detection_kernels(r);
  register_random_kernels(r);
  register_training_kernels(r);
  register_image_kernels(r);
  register_fused_transformer_kernels(r);
  register_fused_conv_kernels(r);
  register_squeeze_excite_kernels(r);
}

}  // namespace ferry
