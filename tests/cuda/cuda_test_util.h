// cuda_test_util.h — shared inputs and checks of the CUDA backend tests (they compare against the CPU backend).
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <utility>

#include "ferry/tensor.h"
#include "ops/op_test_util.h"

namespace ferry {

// Seeded uniform floats in [-scale, scale).
inline Tensor random_tensor(Shape shape, uint32_t seed, float scale = 1.0f) {
  return test::random_floats(std::move(shape), seed, -scale, scale);
}

// Every element finite and |cpu - cuda| <= atol + rtol * |cpu| (float tensors of equal shape).
inline void expect_close(const Tensor& ref, const Tensor& got, double rtol, double atol) {
  ASSERT_EQ(ref.shape(), got.shape());
  for (int64_t i = 0; i < ref.numel(); ++i) {
    float r = ref.data<float>()[i], v = got.data<float>()[i];
    ASSERT_TRUE(std::isfinite(v)) << "element " << i;
    ASSERT_LE(std::fabs(r - v), atol + rtol * std::fabs(r)) << "element " << i << ": cpu " << r << ", cuda " << v;
  }
}

}  // namespace ferry
