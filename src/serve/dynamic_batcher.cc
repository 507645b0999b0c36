// dynamic_batcher.cc — the Scheduler: a queue shared by N instance threads that merge compatible requests.
#include <algorithm>
#include <cstdlib>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include "serve/scheduler.h"

namespace ferry::serve {

void fail_job(std::unique_ptr<Job> job, const Status& status, bool unavailable) {
  int64_t t = now_ns();
  if (job->stats) {
    job->stats->fail.add(t - job->received_ns);
    if (unavailable) job->stats->fail_unavailable.fetch_add(1, std::memory_order_relaxed);
    job->stats->pending.fetch_sub(1, std::memory_order_relaxed);
  }
  InferResponse res;
  res.status = status;
  res.unavailable = unavailable;
  res.model_name = std::move(job->model_name);
  res.model_version = std::move(job->model_version);
  res.id = std::move(job->id);
  InferCallback done = std::move(job->done);
  job.reset();
  done(std::move(res));
}

namespace {

// Same dtypes and same shapes apart from the leading (batch) dim.
bool compatible(const Job& a, const Job& b) {
  if (a.inputs.size() != b.inputs.size()) return false;
  for (size_t i = 0; i < a.inputs.size(); ++i) {
    const Tensor& x = a.inputs[i];
    const Tensor& y = b.inputs[i];
    if (x.dtype() != y.dtype() || x.rank() != y.rank() || x.rank() == 0) return false;
    if (!std::equal(x.shape().begin() + 1, x.shape().end(), y.shape().begin() + 1)) return false;
  }
  return true;
}

void copy_rows(const Tensor& src, Tensor& dst, int64_t dst_row0) {
  int64_t row = src.rank() ? src.numel() / std::max<int64_t>(src.dim(0), 1) : 1;
  if (src.dtype() == DType::kString) {
    const std::string* s = src.data<std::string>();
    std::string* d = dst.data<std::string>() + dst_row0 * row;
    for (int64_t i = 0; i < src.numel(); ++i) d[i] = s[i];
  } else {
    std::memcpy(static_cast<char*>(dst.raw_data()) + dst_row0 * row * dtype_size(src.dtype()), src.raw_data(), src.nbytes());
  }
}

// Rows [row0, row0 + n) of t as a new tensor (copied).
Tensor slice_rows(const Tensor& t, int64_t row0, int64_t n) {
  Shape s = t.shape();
  int64_t row = t.numel() / std::max<int64_t>(s[0], 1);
  s[0] = n;
  Tensor out = Tensor::empty(t.dtype(), s);
  if (t.dtype() == DType::kString) {
    const std::string* src = t.data<std::string>() + row0 * row;
    std::string* d = out.data<std::string>();
    for (int64_t i = 0; i < n * row; ++i) d[i] = src[i];
  } else {
    size_t es = dtype_size(t.dtype());
    std::memcpy(out.raw_data(), static_cast<const char*>(t.raw_data()) + row0 * row * es, static_cast<size_t>(n * row) * es);
  }
  return out;
}

// A growable 64-byte aligned buffer that batches are gathered into. A batch tensor is a view sharing the
// buffer's ownership, so a model that kept its input alive (use_count > 1) gets a fresh buffer next time instead
// of having it overwritten.
class BatchBuffer {
 public:
  Tensor tensor(DType dt, Shape shape) {
    size_t need = static_cast<size_t>(shape_numel(shape)) * dtype_size(dt);
    if (dt == DType::kString) return Tensor::empty(dt, std::move(shape));
    if (!mem_ || mem_.use_count() > 1 || cap_ < need) {
      cap_ = std::max<size_t>((need + 63) / 64 * 64, 64);
      mem_ = std::shared_ptr<void>(std::aligned_alloc(64, cap_), [](void* p) { std::free(p); });
    }
    return Tensor::view(dt, std::move(shape), mem_, mem_.get());
  }

 private:
  std::shared_ptr<void> mem_;
  size_t cap_ = 0;
};

struct InstanceSlots {
  std::vector<BatchBuffer> buffers;  // one per model input
  std::vector<Tensor> inputs;        // the batch handed to the runner
};

// Request tensors can go to the model as they are when they are 64-byte aligned (tensors decoded from the
// wire may be views into a message buffer; string tensors never are).
bool aligned_inputs(const Job& j) {
  for (const Tensor& t : j.inputs)
    if (t.dtype() != DType::kString && t.numel() > 0 && reinterpret_cast<uintptr_t>(t.raw_data()) % 64 != 0)
      return false;
  return true;
}

class DynamicBatcher : public Scheduler {
 public:
  DynamicBatcher(const SchedulerOptions& o, std::vector<std::unique_ptr<ModelRunner>> instances)
      : opt_(o), runners_(std::move(instances)) {
    slots_.resize(runners_.size());
    for (size_t i = 0; i < runners_.size(); ++i) threads_.emplace_back([this, i] { loop(*runners_[i], slots_[i]); });
  }
  ~DynamicBatcher() override { stop(); }

  Status enqueue(std::unique_ptr<Job>& job) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) return invalid_argument("model '" + job->model_name + "' is unloading");
      if (opt_.max_queue_size > 0 && static_cast<int64_t>(queue_.size()) >= opt_.max_queue_size)
        return invalid_argument("model '" + job->model_name + "': queue full (max_queue_size " +
                                std::to_string(opt_.max_queue_size) + ")");
      job->enqueue_ns = now_ns();
      queue_.push_back(std::move(job));
      ++inflight_;
    }
    cv_.notify_one();
    return Status::ok();
  }

  int64_t inflight() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return inflight_;
  }

  void stop() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_ && threads_.empty()) return;
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_)
      if (t.joinable()) t.join();
    threads_.clear();
  }

 private:
  // Takes the next batch off the queue (mu_ held through `lock`); empty when stopping with nothing queued.
  std::vector<std::unique_ptr<Job>> next_batch(std::unique_lock<std::mutex>& lock) {
    std::vector<std::unique_ptr<Job>> batch;
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return batch;
    if (!opt_.batching) {
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
      return batch;
    }
    int64_t target = opt_.max_batch_size;
    if (!opt_.preferred_batch_sizes.empty())
      target = std::min<int64_t>(target, *std::max_element(opt_.preferred_batch_sizes.begin(), opt_.preferred_batch_sizes.end()));
    int64_t flush_at = queue_.front()->enqueue_ns + opt_.max_queue_delay_us * 1000;
    for (;;) {
      // Samples available for a batch led by the oldest request.
      int64_t total = 0;
      const Job& head = *queue_.front();
      for (const auto& j : queue_)
        if (compatible(head, *j) && total + j->batch <= opt_.max_batch_size) total += j->batch;
      bool preferred = std::find(opt_.preferred_batch_sizes.begin(), opt_.preferred_batch_sizes.end(), total) !=
                       opt_.preferred_batch_sizes.end();
      if (total >= target || preferred || stopping_ || opt_.max_queue_delay_us <= 0 || now_ns() >= flush_at) break;
      cv_.wait_until(lock, std::chrono::steady_clock::time_point(std::chrono::nanoseconds(flush_at)));
      if (queue_.empty()) return batch;
    }
    // Triton's rule: the largest preferred size the compatible queued samples reach, else all of them (up to
    // max_batch_size). With 16 clients and preferred 8 this keeps two batches of 8 in flight instead of one of 16.
    int64_t avail = 0;
    const Job* head = queue_.front().get();
    for (const auto& j : queue_)
      if (compatible(*head, *j) && avail + j->batch <= opt_.max_batch_size) avail += j->batch;
    int64_t cap = opt_.max_batch_size;
    int64_t best_pref = 0;
    for (int p : opt_.preferred_batch_sizes)
      if (p <= avail && p > best_pref) best_pref = p;
    if (best_pref > 0) cap = best_pref;
    int64_t total = 0;
    for (auto it = queue_.begin(); it != queue_.end();) {
      if (total < cap && compatible(*head, **it) && total + (*it)->batch <= cap) {
        total += (*it)->batch;
        batch.push_back(std::move(*it));
        it = queue_.erase(it);
      } else {
        ++it;
      }
    }
    return batch;
  }

  void loop(ModelRunner& runner, InstanceSlots& slots) {
    for (;;) {
      std::vector<std::unique_ptr<Job>> batch;
      {
        std::unique_lock<std::mutex> lock(mu_);
        batch = next_batch(lock);
        if (batch.empty()) return;  // stopping and drained
      }
      if (!queue_empty_unlocked()) cv_.notify_one();  // let another instance look at what is left
      int64_t done = static_cast<int64_t>(batch.size());
      execute(runner, slots, std::move(batch));
      std::lock_guard<std::mutex> lock(mu_);
      inflight_ -= done;
    }
  }

  bool queue_empty_unlocked() {
    std::lock_guard<std::mutex> lock(mu_);
    return queue_.empty();
  }

  void execute(ModelRunner& runner, InstanceSlots& slots, std::vector<std::unique_ptr<Job>> batch) {
    int64_t t0 = now_ns();
    std::vector<std::unique_ptr<Job>> live;
    for (auto& j : batch) {
      if (j->deadline_ns > 0 && t0 > j->deadline_ns) {
        Status s = invalid_argument("model '" + j->model_name + "': request timed out in the queue");
        fail_job(std::move(j), s, true);
      } else {
        j->stats->queue.add(t0 - j->enqueue_ns);
        live.push_back(std::move(j));
      }
    }
    if (live.empty()) return;
    // compute_input: gather the requests' inputs into one batch.
    std::vector<Tensor>& inputs = slots.inputs;
    inputs.clear();
    int64_t samples = 0;
    for (const auto& j : live) samples += j->batch;
    if (live.size() == 1 && aligned_inputs(*live[0])) {
      inputs = live[0]->inputs;  // zero-copy: the request's own tensors
    } else {
      // Requests' rows are copied straight into the instance's batch buffers (one copy, no allocation once the
      // buffers have grown to the largest batch seen).
      slots.buffers.resize(live[0]->inputs.size());
      for (size_t i = 0; i < live[0]->inputs.size(); ++i) {
        Shape s = live[0]->inputs[i].shape();
        if (live.size() > 1) s[0] = samples;  // compatible() guarantees rank >= 1 when merging
        Tensor t = slots.buffers[i].tensor(live[0]->inputs[i].dtype(), std::move(s));
        int64_t row = 0;
        for (const auto& j : live) {
          copy_rows(j->inputs[i], t, row);
          row += j->inputs[i].dim(0);
        }
        inputs.push_back(std::move(t));
      }
    }
    int64_t t1 = now_ns();
    auto outputs = runner.run(inputs);
    int64_t t2 = now_ns();
    inputs.clear();
    for (auto& j : live) j->inputs.clear();  // request memory goes back before the answers are written
    if (!outputs) {
      Status s = outputs.status().with_context("model '" + live.front()->model_name + "'");
      for (auto& j : live) fail_job(std::move(j), s, false);
      return;
    }
    // compute_output: split and answer.
    std::vector<InferResponse> responses(live.size());
    int64_t row = 0;
    bool batched = live.size() > 1;
    for (size_t k = 0; k < live.size(); ++k) {
      Job& j = *live[k];
      InferResponse& r = responses[k];
      for (size_t o = 0; o < j.outputs.size(); ++o) {
        const Tensor& full = (*outputs)[static_cast<size_t>(j.outputs[o])];
        if (batched && (full.rank() == 0 || full.dim(0) != samples)) {
          r.status = internal_error("model '" + j.model_name + "': output '" + j.output_names[o] +
                                    "' has no batch dim " + std::to_string(samples) + " (shape " + shape_to_string(full.shape()) + ")");
          break;
        }
        r.outputs.push_back({j.output_names[o], batched ? slice_rows(full, row, j.batch) : full});
      }
      row += j.batch;
    }
    outputs = std::vector<Tensor>();
    int64_t t3 = now_ns();
    live[0]->stats->record_execution(samples, static_cast<int64_t>(live.size()), t1 - t0, t2 - t1, t3 - t2);
    for (size_t k = 0; k < live.size(); ++k) {
      std::unique_ptr<Job> j = std::move(live[k]);
      if (!responses[k].status.is_ok()) {
        fail_job(std::move(j), responses[k].status, false);
        continue;
      }
      InferResponse& r = responses[k];
      r.model_name = std::move(j->model_name);
      r.model_version = std::move(j->model_version);
      r.id = std::move(j->id);
      j->stats->success.add(now_ns() - j->received_ns);
      j->stats->pending.fetch_sub(1, std::memory_order_relaxed);
      InferCallback done = std::move(j->done);
      j.reset();
      done(std::move(r));
    }
  }

  SchedulerOptions opt_;
  std::vector<std::unique_ptr<ModelRunner>> runners_;
  std::vector<InstanceSlots> slots_;  // one per instance, used only by its thread
  std::vector<std::thread> threads_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Job>> queue_;
  int64_t inflight_ = 0;
  bool stopping_ = false;
};

}  // namespace

std::unique_ptr<Scheduler> make_dynamic_batcher(const SchedulerOptions& options,
                                                std::vector<std::unique_ptr<ModelRunner>> instances) {
  return std::make_unique<DynamicBatcher>(options, std::move(instances));
}

}  // namespace ferry::serve
