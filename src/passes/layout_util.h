// layout_util.h — the NCHW <-> NHWC Transpose helpers shared by the channels-last passes (conv_channels_last for
// float convs, fuse_qdq_layout for int8 QConv chains): the two permutations, a test for a Transpose with a given
// perm, and a maker for one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"

namespace ferry {

inline const std::vector<int64_t> kToNhwc{0, 2, 3, 1};
inline const std::vector<int64_t> kToNchw{0, 3, 1, 2};

inline bool is_transpose(const Node& n, const std::vector<int64_t>& perm) {
  return n.op_type == "Transpose" && n.domain.empty() && n.inputs.size() == 1 && n.attr_ints("perm") == perm;
}

// A Transpose (opset 13) from `in` to `out` named out + name_suffix.
inline Node make_transpose(const std::string& in, const std::string& out, const std::vector<int64_t>& perm,
                           const std::string& name_suffix) {
  Node t = Node::make("Transpose", {in}, {out});
  t.name = out + name_suffix;
  t.opset = 13;
  Attr a;
  a.kind = Attr::Kind::kInts;
  a.ints = perm;
  t.attrs["perm"] = a;
  return t;
}

}  // namespace ferry
