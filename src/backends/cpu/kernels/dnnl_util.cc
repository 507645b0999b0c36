// dnnl_util.cc — see dnnl_util.h.
#include "backends/cpu/kernels/dnnl_util.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <oneapi/dnnl/dnnl.hpp>

namespace ferry {

const dnnl::engine& dnnl_cpu_engine() {
  static const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

void dnnl_set_threads(int threads) {
  using SetFn = void (*)(int);
  static const SetFn set_fn = reinterpret_cast<SetFn>(dlsym(RTLD_DEFAULT, "omp_set_num_threads"));
  if (set_fn && threads > 0) set_fn(threads);
}

bool dnnl_enabled() {
  const char* v = std::getenv("FERRY_DNNL");
  return !(v && std::strcmp(v, "0") == 0);
}

}  // namespace ferry
