// attr_util.h — building node attributes in passes:  n.attrs["axis"] = int_attr(1);
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ir/graph.h"

namespace ferry {

inline Attr int_attr(int64_t v) {
  Attr a;
  a.kind = Attr::Kind::kInt;
  a.i = v;
  return a;
}

inline Attr float_attr(float v) {
  Attr a;
  a.kind = Attr::Kind::kFloat;
  a.f = v;
  return a;
}

inline Attr ints_attr(std::vector<int64_t> v) {
  Attr a;
  a.kind = Attr::Kind::kInts;
  a.ints = std::move(v);
  return a;
}

inline Attr floats_attr(std::vector<float> v) {
  Attr a;
  a.kind = Attr::Kind::kFloats;
  a.floats = std::move(v);
  return a;
}

inline Attr string_attr(std::string v) {
  Attr a;
  a.kind = Attr::Kind::kString;
  a.s = std::move(v);
  return a;
}

}  // namespace ferry
