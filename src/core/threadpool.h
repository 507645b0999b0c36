// threadpool.h — a small fixed-size pool for data-parallel loops in kernels.
//
//   ThreadPool pool(4);
//   pool.parallel_for(n, [&](int64_t begin, int64_t end) { for (auto i = begin; i < end; ++i) work(i); });
//
// parallel_for splits [0, n) into contiguous chunks (at most one per thread, fewer when `min_chunk` says so),
// runs them on the pool plus the calling thread, and returns when all are done. It is not reentrant from
// inside a chunk (nested calls run serially in the caller).
// The pool has threads - 1 workers that spin for a short while (FERRY_SPIN_US, default 50 us) after a job and
// then sleep on a condition variable; the caller spins as long for the workers' chunks before it sleeps. The
// caller takes chunks no worker has started, so a worker that is not scheduled (a loaded machine) delays nothing. With FERRY_THREADPOOL=omp
// (and libgomp loaded, it comes with oneDNN) the chunks run on the OpenMP team instead (omp_team.h), the threads
// the oneDNN primitives use and keep spinning between ops, and the pool starts no threads of its own.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ferry {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);  // threads <= 0: hardware concurrency
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int threads() const { return threads_; }
  void parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t min_chunk = 1);

 private:
  void worker_loop(int index);
  int threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_work_, cv_done_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_n_ = 0, job_chunks_ = 0;
  int64_t next_chunk_ = 0;
  std::atomic<int64_t> chunks_done_{0};  // written under mu_, also read while spinning
  std::atomic<uint64_t> generation_{0};  // written under mu_, also read while spinning
  std::atomic<bool> stop_{false};
  bool busy_ = false;
  bool omp_ = false;  // chunks run on the OpenMP team; no workers
};

}  // namespace ferry
