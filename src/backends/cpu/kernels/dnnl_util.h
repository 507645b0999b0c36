// dnnl_util.h — what the conv/pool oneDNN paths share: the engine, thread control and the on/off switch.
//
// Threading (checked on this machine): Debian's libdnnl 2.6.3 is built with DNNL_CPU_RUNTIME = DNNL_RUNTIME_OMP
// (dnnl_config.h; libdnnl.so.2 links libgomp.so.1), i.e. oneDNN runs its primitives in OpenMP parallel regions
// and ignores ferry's ThreadPool. So that `--threads N` (the session's ThreadPool size) also bounds oneDNN,
// dnnl_set_threads() calls omp_set_num_threads(N) on the calling thread before each execute. We look the
// symbol up with dlsym (libgomp is already loaded as a dependency of libdnnl) so that ferry does not need to
// link OpenMP itself; if it is missing (a TBB/threadpool build) the call does nothing and OMP_NUM_THREADS or
// the library default applies.
//
// FERRY_DNNL=0 in the environment makes conv/pool factories build reference kernels only (tests use it to
// compare the two paths; also handy to bisect numerical differences).
#pragma once

namespace dnnl {
class engine;
}

namespace ferry {

// The process-wide CPU engine (created on first use, never modified afterwards).
const dnnl::engine& dnnl_cpu_engine();
// Bounds oneDNN's OpenMP team for primitives executed from this thread (see above).
void dnnl_set_threads(int threads);
// False when FERRY_DNNL=0 is set (read at each call: cheap, and tests toggle it).
bool dnnl_enabled();

}  // namespace ferry
