// omp_team.h — run a function on the process's OpenMP team without linking OpenMP.
//
//   omp_team_run(threads, [&](int t, int nt) { work(rows * t / nt, rows * (t + 1) / nt); });
//
// oneDNN (Debian's libdnnl) runs its primitives on libgomp's team; ferry does not compile with -fopenmp but finds
// libgomp's entry points at run time (dlsym), so its own parallel loops run on the same threads the oneDNN
// primitives keep awake (spinning) instead of a second set of threads competing with them for the cores.
// When libgomp is not loaded, omp_team_available() is false and omp_team_run calls fn(0, 1) on the caller.
// Calls from inside a team (nested) run with nt == 1 on the calling thread (libgomp's default nesting).
#pragma once

#include <functional>

namespace ferry {

// True when libgomp is loaded in the process (it comes with libdnnl).
bool omp_team_available();

// Runs fn(t, nt) once for each t in [0, nt) on the OpenMP team, nt <= threads (libgomp may give fewer threads).
void omp_team_run(int threads, const std::function<void(int, int)>& fn);

}  // namespace ferry
