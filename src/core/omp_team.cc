// omp_team.cc — see omp_team.h.
#include "core/omp_team.h"

#include <dlfcn.h>

namespace ferry {

namespace {

// libgomp's entry points, looked up at run time like dnnl_set_threads() does. GOMP_parallel is the ABI GCC emits
// for `#pragma omp parallel`.
using GompParallelFn = void (*)(void (*)(void*), void*, unsigned, unsigned);
using OmpIntFn = int (*)();
struct Gomp {
  GompParallelFn parallel = nullptr;
  OmpIntFn thread_num = nullptr, num_threads = nullptr;
};

const Gomp& gomp() {
  static const Gomp g = [] {
    Gomp r;
    r.parallel = reinterpret_cast<GompParallelFn>(dlsym(RTLD_DEFAULT, "GOMP_parallel"));
    r.thread_num = reinterpret_cast<OmpIntFn>(dlsym(RTLD_DEFAULT, "omp_get_thread_num"));
    r.num_threads = reinterpret_cast<OmpIntFn>(dlsym(RTLD_DEFAULT, "omp_get_num_threads"));
    if (!r.parallel || !r.thread_num || !r.num_threads) r = Gomp();
    return r;
  }();
  return g;
}

}  // namespace

bool omp_team_available() { return gomp().parallel != nullptr; }

void omp_team_run(int threads, const std::function<void(int, int)>& fn) {
  if (threads <= 1 || !omp_team_available()) {
    fn(0, 1);
    return;
  }
  gomp().parallel([](void* p) { (*static_cast<const std::function<void(int, int)>*>(p))(gomp().thread_num(),
                                                                                         gomp().num_threads()); },
                  const_cast<std::function<void(int, int)>*>(&fn), static_cast<unsigned>(threads), 0);
}

}  // namespace ferry
