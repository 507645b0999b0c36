// cli.h — shared pieces of the `ferry` command-line tool: one function per subcommand and the exit-code policy.
//
// Exit codes: 0 success; 2 bad input (malformed/unsupported model, wrong inputs, missing files); 1 anything else.
// Errors are printed as one line on stderr: "ferry <cmd>: error: <message>".
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "ferry/status.h"

namespace ferry::cli {

int exit_code_for(const Status& s);
int report_error(const std::string& command, const Status& s);

void add_run_command(CLI::App& app, int* exit_code);
void add_inspect_command(CLI::App& app, int* exit_code);
void add_optimize_command(CLI::App& app, int* exit_code);
void add_bench_command(CLI::App& app, int* exit_code);
void add_perf_command(CLI::App& app, int* exit_code);
void add_serve_command(CLI::App& app, int* exit_code);
void add_quantize_command(CLI::App& app, int* exit_code);

}  // namespace ferry::cli
