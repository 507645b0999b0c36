// conv_act.h — fast in-place activations applied to a conv's output after oneDNN has written it.
//
// Why: oneDNN 2.6's eltwise post-ops for swish (SiLU) and logistic (sigmoid) are slow on this CPU (AMD EPYC,
// AVX-512): measured on a 1x1 conv 16->96 at 112x112 (1 thread) the conv alone takes 0.39 ms, with the swish
// post-op 1.6 ms, and with the separate AVX-512 pass below 0.73 ms. So DnnlConv builds its primitive without
// those post-ops and calls apply_conv_activation() on the finished output instead.
//
//   if (deferred_activation_supported(ConvAct::kSilu)) apply_conv_activation(ConvAct::kSilu, y, n, threads);
//
// The pass runs on oneDNN's OpenMP team (same threads as the conv, so no second pool wakes up between the
// two). Numbers: exp via Cephes range reduction + degree-5 polynomial (~1 ulp), then an IEEE division, so the
// results match the reference 1/(1+exp(-x)) to ~2 ulp; NaN propagates; +-inf saturate like the reference.
#pragma once

#include <cstdint>
#include <functional>

#include "backends/cpu/kernels/conv_dnnl.h"
#include "core/omp_team.h"  // omp_team_run: kernels between oneDNN convs run on its OpenMP team

namespace ferry {

// True when apply_conv_activation() has a fast path for `act` on this CPU (needs AVX-512F).
bool deferred_activation_supported(ConvAct act);

// y[i] = act(y[i]) (+ z[i] when z is not null) for i < n, split over `threads` OpenMP threads (only when there
// is enough work). Only for the activations deferred_activation_supported() accepts; does nothing for others.
void apply_conv_activation(ConvAct act, float* y, int64_t n, int threads, const float* z = nullptr);

}  // namespace ferry
