#include "core/threadpool.h"

#include <immintrin.h>
#include <sched.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "core/omp_team.h"

namespace ferry {

namespace {

// FERRY_THREADPOOL=omp runs the chunks on the OpenMP team when libgomp is loaded; the default keeps ferry's own
// workers (docs/decisions.md: on a loaded machine the OpenMP barriers of many small parallel regions stall).
bool use_omp_team() {
  static const bool omp = [] {
    const char* e = std::getenv("FERRY_THREADPOOL");
    return omp_team_available() && e && std::strcmp(e, "omp") == 0;
  }();
  return omp;
}

// How long a worker (or the caller) spins before it sleeps: the next parallel op of a run usually comes within a
// few microseconds, and a futex wake-up costs more than that.
int64_t spin_ns() {
  static const int64_t ns = [] {
    const char* e = std::getenv("FERRY_SPIN_US");
    return e ? std::max<int64_t>(0, std::atoll(e)) * 1000 : int64_t{50'000};
  }();
  return ns;
}

// Busy-waits until done() or spin_ns() have passed; true when done() became true.
template <typename Done>
bool spin_until(Done done) {
  const int64_t limit = spin_ns();
  if (limit <= 0) return done();
  const auto t0 = std::chrono::steady_clock::now();
  for (;;) {
    for (int i = 0; i < 16; ++i) {
      if (done()) return true;
      _mm_pause();
    }
    // Give the core to any other runnable thread (oneDNN's OpenMP worker between two convs): on an idle core
    // sched_yield returns at once.
    sched_yield();
    if (std::chrono::steady_clock::now() - t0 > std::chrono::nanoseconds(limit)) return done();
  }
}

}  // namespace

ThreadPool::ThreadPool(int threads) {
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads_ = threads;
  omp_ = use_omp_team();
  if (!omp_)
    for (int i = 1; i < threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::worker_loop(int) {
  uint64_t seen = 0;
  for (;;) {
    spin_until([&] { return stop_.load(std::memory_order_relaxed) || generation_.load() != seen; });
    std::unique_lock<std::mutex> lock(mu_);
    cv_work_.wait(lock, [&] { return stop_ || generation_ != seen; });
    if (stop_) return;
    seen = generation_;
    while (job_ && next_chunk_ < job_chunks_) {
      int64_t c = next_chunk_++;
      const auto* fn = job_;
      int64_t n = job_n_, chunks = job_chunks_;
      lock.unlock();
      (*fn)(n * c / chunks, n * (c + 1) / chunks);
      lock.lock();
      if (++chunks_done_ == job_chunks_) cv_done_.notify_all();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn, int64_t min_chunk) {
  if (n <= 0) return;
  int64_t chunks = std::min<int64_t>(threads_, std::max<int64_t>(1, n / std::max<int64_t>(1, min_chunk)));
  if (omp_) {
    if (chunks <= 1) return fn(0, n);
    // A nested call (from inside a chunk) gets a team of one from libgomp and runs the whole range serially.
    omp_team_run(static_cast<int>(chunks), [&](int t, int nt) { fn(n * t / nt, n * (t + 1) / nt); });
    return;
  }
  std::unique_lock<std::mutex> lock(mu_);
  if (chunks <= 1 || busy_) {  // serial, or nested call from inside a chunk
    lock.unlock();
    fn(0, n);
    return;
  }
  busy_ = true;
  job_ = &fn;
  job_n_ = n;
  job_chunks_ = chunks;
  next_chunk_ = 0;
  chunks_done_ = 0;
  ++generation_;
  cv_work_.notify_all();
  while (next_chunk_ < job_chunks_) {
    int64_t c = next_chunk_++;
    lock.unlock();
    fn(n * c / chunks, n * (c + 1) / chunks);
    lock.lock();
    ++chunks_done_;
  }
  if (chunks_done_ != chunks) {
    lock.unlock();
    spin_until([&] { return chunks_done_.load(std::memory_order_acquire) == chunks; });
    lock.lock();
  }
  cv_done_.wait(lock, [&] { return chunks_done_ == job_chunks_; });
  job_ = nullptr;
  busy_ = false;
}

}  // namespace ferry
