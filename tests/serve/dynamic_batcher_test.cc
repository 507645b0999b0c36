// dynamic_batcher_test.cc — the dynamic batcher forms preferred-size batches, gathers rows in request order,
// scatters outputs back, and reuses its batch buffer only when the model let go of it.
#include <gtest/gtest.h>

#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <thread>

#include "serve/scheduler.h"

namespace ferry::serve {
namespace {

// Echoes its input (a copy) and records every batch size; blocks while `hold` is set so jobs pile up.
class EchoRunner : public ModelRunner {
 public:
  Expected<std::vector<Tensor>> run(const std::vector<Tensor>& inputs) override {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return !hold; });
    sizes.push_back(inputs[0].dim(0));
    data_ptrs.push_back(inputs[0].raw_data());
    if (keep_input) kept.push_back(inputs[0]);
    return std::vector<Tensor>{inputs[0].clone()};
  }
  std::mutex mu;
  std::condition_variable cv;
  bool hold = false, keep_input = false;
  std::vector<int64_t> sizes;
  std::vector<const void*> data_ptrs;
  std::vector<Tensor> kept;
};

std::unique_ptr<Job> make_job(float v, std::promise<InferResponse>* p) {
  auto j = std::make_unique<Job>();
  j->model_name = "m";
  j->inputs.push_back(Tensor::from_vector<float>(DType::kFloat, {1, 2}, {v, v + 0.5f}));
  j->outputs = {0};
  j->output_names = {"y"};
  j->batch = 1;
  j->received_ns = now_ns();
  j->stats = std::make_shared<ModelStats>();
  j->done = [p](InferResponse&& r) { p->set_value(std::move(r)); };
  return j;
}

TEST(DynamicBatcher, PreferredSizesAndScatter) {
  auto runner = std::make_unique<EchoRunner>();
  EchoRunner* r = runner.get();
  SchedulerOptions o;
  o.batching = true;
  o.max_batch_size = 16;
  o.preferred_batch_sizes = {4, 8};
  o.max_queue_delay_us = 0;
  std::vector<std::unique_ptr<ModelRunner>> rs;
  rs.push_back(std::move(runner));
  r->hold = true;
  auto sched = make_dynamic_batcher(o, std::move(rs));
  // The first job may be taken alone while the runner is held; the 12 after it queue up.
  std::vector<std::promise<InferResponse>> ps(13);
  for (int i = 0; i < 13; ++i) {
    auto j = make_job(static_cast<float>(i), &ps[i]);
    ASSERT_TRUE(sched->enqueue(j).is_ok());
    if (i == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  {
    std::lock_guard<std::mutex> l(r->mu);
    r->hold = false;
  }
  r->cv.notify_all();
  for (int i = 0; i < 13; ++i) {
    InferResponse res = ps[i].get_future().get();
    ASSERT_TRUE(res.status.is_ok()) << res.status.message();
    ASSERT_EQ(res.outputs.size(), 1u);
    const Tensor& y = res.outputs[0].tensor;
    ASSERT_EQ(y.shape(), (Shape{1, 2}));
    EXPECT_EQ(y.data<float>()[0], static_cast<float>(i));
    EXPECT_EQ(y.data<float>()[1], static_cast<float>(i) + 0.5f);
  }
  sched->stop();
  // 1 alone, then the largest preferred size the queue fills (8), then the preferred 4 of the rest.
  EXPECT_EQ(r->sizes, (std::vector<int64_t>{1, 8, 4}));
}

TEST(DynamicBatcher, BatchBufferReusedUnlessKept) {
  for (bool keep : {false, true}) {
    auto runner = std::make_unique<EchoRunner>();
    EchoRunner* r = runner.get();
    r->keep_input = keep;
    SchedulerOptions o;
    o.batching = true;
    o.max_batch_size = 2;
    o.preferred_batch_sizes = {2};
    o.max_queue_delay_us = 2000000;  // wait for both requests
    std::vector<std::unique_ptr<ModelRunner>> rs;
    rs.push_back(std::move(runner));
    auto sched = make_dynamic_batcher(o, std::move(rs));
    for (int round = 0; round < 2; ++round) {
      std::vector<std::promise<InferResponse>> ps(2);
      for (int i = 0; i < 2; ++i) {
        auto j = make_job(static_cast<float>(10 * round + i), &ps[i]);
        ASSERT_TRUE(sched->enqueue(j).is_ok());
      }
      for (int i = 0; i < 2; ++i) {
        InferResponse res = ps[i].get_future().get();
        ASSERT_TRUE(res.status.is_ok());
        EXPECT_EQ(res.outputs[0].tensor.data<float>()[0], static_cast<float>(10 * round + i));
      }
    }
    sched->stop();
    ASSERT_EQ(r->sizes, (std::vector<int64_t>{2, 2}));
    if (keep) {
      EXPECT_NE(r->data_ptrs[0], r->data_ptrs[1]);  // the model still holds batch 1: a fresh buffer
      EXPECT_EQ(r->kept[0].data<float>()[0], 0.0f);  // and batch 1 was not overwritten
    } else {
      EXPECT_EQ(r->data_ptrs[0], r->data_ptrs[1]);  // same buffer, no allocation
    }
  }
}

}  // namespace
}  // namespace ferry::serve
