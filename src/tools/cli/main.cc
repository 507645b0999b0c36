// main.cc — `ferry`: one binary, subcommands (run, inspect, ...).

#include <cstdlib>
#include <iostream>

#include "tools/cli/cli.h"

namespace ferry::cli {

int exit_code_for(const Status& s) {
  switch (s.code()) {
    case StatusCode::kOk: return 0;
    case StatusCode::kInvalidArgument: case StatusCode::kNotFound: case StatusCode::kUnsupported: return 2;
    default: return 1;
  }
}

int report_error(const std::string& command, const Status& s) {
  std::string msg = s.to_string();
  for (char& c : msg)
    if (c == '\n') c = ' ';
  std::cerr << "ferry " << command << ": error: " << msg << "\n";
  return exit_code_for(s);
}

}  // namespace ferry::cli


int main(int argc, char** argv) {
  CLI::App app{"ferry — carry a trained model into production: inspect, verify, optimize and run ONNX models"};
  app.require_subcommand(1);
  int exit_code = 0;
  ferry::cli::add_run_command(app, &exit_code);
  ferry::cli::add_inspect_command(app, &exit_code);
  ferry::cli::add_optimize_command(app, &exit_code);
  ferry::cli::add_bench_command(app, &exit_code);
  ferry::cli::add_perf_command(app, &exit_code);
  ferry::cli::add_serve_command(app, &exit_code);
  ferry::cli::add_quantize_command(app, &exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  return exit_code;
}
