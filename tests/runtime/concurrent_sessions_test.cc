// concurrent_sessions_test.cc — two Sessions of one model running at the same time in two threads (ferry serve's
// instances, ferry bench --streams) give the single-session result bit for bit. Regression: oneDNN's library
// scratchpad is shared by equal cached conv primitives, so concurrent Winograd convs crashed or corrupted outputs
// until every conv node got its own (user-mode) scratchpad.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <thread>

#include "ferry/session.h"
#include "ir/onnx_import.h"
#include "ops/op_test_util.h"

namespace ferry {
namespace {

using test::random_floats;

// x [1, 32, 28, 28] -> Conv3x3 -> Relu -> Conv3x3 (+x) -> y: 3x3 stride-1 convs on 16-multiple channels take
// oneDNN's Winograd path.
std::string write_model() {
  Model m;
  m.opsets[""] = 13;
  Graph& g = m.graph;
  g.name = "concurrent";
  g.inputs = {"x"};
  g.value_info["x"] = {DType::kFloat, SymShape::from_dims({Dim(1), Dim(32), Dim(28), Dim(28)})};
  g.initializers["w1"] = random_floats({32, 32, 3, 3}, 1, -0.1f, 0.1f);
  g.initializers["w2"] = random_floats({32, 32, 3, 3}, 2, -0.1f, 0.1f);
  g.initializers["b1"] = random_floats({32}, 3);
  auto conv = [](std::vector<std::string> in, const std::string& out) {
    Node n = Node::make("Conv", std::move(in), {out});
    Attr k;
    k.kind = Attr::Kind::kInts;
    k.ints = {3, 3};
    n.attrs["kernel_shape"] = k;
    Attr p = k;
    p.ints = {1, 1, 1, 1};
    n.attrs["pads"] = p;
    return n;
  };
  g.nodes.push_back(conv({"x", "w1", "b1"}, "c1"));
  g.nodes.push_back(Node::make("Relu", {"c1"}, {"r1"}));
  g.nodes.push_back(conv({"r1", "w2"}, "c2"));
  g.nodes.push_back(Node::make("Add", {"c2", "x"}, {"y"}));
  for (Node& n : g.nodes) n.opset = 13;
  g.outputs = {"y"};
  EXPECT_TRUE(g.topo_sort().is_ok());
  std::string path = (std::filesystem::temp_directory_path() / "ferry_concurrent_sessions.onnx").string();
  Status st = save_onnx_model(m, path);
  EXPECT_TRUE(st.is_ok()) << st.to_string();
  return path;
}

TEST(ConcurrentSessions, TwoSessionsAtOnceMatchOneAlone) {
  const std::string path = write_model();
  SessionOptions o;
  o.threads = 1;
  auto a = Session::load(path, o);
  auto b = Session::load(path, o);
  ASSERT_TRUE(a.has_value()) << a.status().to_string();
  ASSERT_TRUE(b.has_value()) << b.status().to_string();
  const Tensor x = random_floats({1, 32, 28, 28}, 7);
  auto ref = (*a)->run({x});
  ASSERT_TRUE(ref.has_value()) << ref.status().to_string();
  std::atomic<int> mismatches{0}, errors{0};
  auto worker = [&](Session& s) {
    for (int i = 0; i < 40; ++i) {
      auto y = s.run({x});
      if (!y) {
        ++errors;
        continue;
      }
      if (std::memcmp((*y)[0].raw_data(), (*ref)[0].raw_data(), (*ref)[0].nbytes()) != 0) ++mismatches;
    }
  };
  std::thread t1(worker, std::ref(**a)), t2(worker, std::ref(**b));
  t1.join();
  t2.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace ferry
