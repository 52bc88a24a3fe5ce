// SPDX-License-Identifier: Apache-2.0
// The tapegrad tool as a user runs it: outputs, exit codes and error messages.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/expression.hpp"
#include "cli/model_file.hpp"
#include "support/output_files.hpp"
#include "support/run_command.hpp"
#include "support/temp_dir.hpp"
#include "tapegrad/io/safetensors.hpp"
#include "tapegrad/nn/module.hpp"
#include "tapegrad/ops/elementwise.hpp"
#include "tapegrad/ops/registry.hpp"

namespace cli = tapegrad::cli;
using tapegrad::Var;

namespace {

using tapegrad::testing::Outcome;

// Runs the tool with `env` (NAME=VALUE, or empty) set for it.
Outcome run_with_env(const std::string& env, const std::string& args) {
  return tapegrad::testing::run_command(env + " " + std::string(TAPEGRAD_CLI) + " " + args);
}

Outcome run(const std::string& args) {
  return run_with_env("", args);
}

// The tool's --json output: one line, one JSON object (parse() throws on anything else).
nlohmann::json json_of(const Outcome& r) {
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  return nlohmann::json::parse(r.out);
}

TEST(CliGrad, SeedExampleDerivative) {
  const Outcome r = run("grad 'cos(sin(x^2) + 3*x^2)' x=1.5 --json");
  ASSERT_EQ(r.status, 0) << r.out;
  const nlohmann::json j = json_of(r);
  const double x = 1.5;
  const double u = std::sin(x * x) + 3 * x * x;
  EXPECT_EQ(j.at("expression"), "cos(sin(x^2) + 3*x^2)");
  EXPECT_EQ(j.at("point").at("x"), 1.5);
  EXPECT_NEAR(j.at("value").get<double>(), std::cos(u), 1e-12);
  EXPECT_NEAR(j.at("gradient").at("x").at("analytic").get<double>(),
              -std::sin(u) * (2 * x * std::cos(x * x) + 6 * x), 1e-9);
  EXPECT_LT(j.at("gradient").at("x").at("relative_error").get<double>(), 1e-6);
}

// --json writes JSON a strict parser reads: numbers that read back exactly, non-finite values
// as null.
TEST(CliGrad, JsonOutputIsStrictJson) {
  const Outcome r = run("grad 'exp(x) + y' x=1000 y=0.1 --json");
  ASSERT_EQ(r.status, 0) << r.out;
  const nlohmann::json j = json_of(r);
  EXPECT_EQ(j.at("point").at("y").get<double>(), 0.1);  // the shortest form that reads back
  EXPECT_TRUE(j.at("value").is_null()) << r.out;        // log(0) + 0.1 = -inf
  EXPECT_EQ(r.out.find("inf"), std::string::npos) << r.out;
}

TEST(CliGrad, TableOutputNamesEveryVariable) {
  const Outcome r = run("grad 'x*y + max(x, y)' x=2 y=3");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("df/dx"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("df/dy"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("central difference"), std::string::npos) << r.out;
}

TEST(CliGrad, HessianAgainstTheClosedForm) {
  // f = x²y + sin(y): f_xx = 2y, f_xy = 2x, f_yy = -sin(y).
  const Outcome r = run("grad 'x^2*y + sin(y)' x=1.5 y=0.5 --hessian --json");
  ASSERT_EQ(r.status, 0) << r.out;
  const nlohmann::json hessian = json_of(r).at("hessian");
  const auto h = hessian.at("analytic").get<std::vector<std::vector<double>>>();
  ASSERT_EQ(h.size(), 2u) << r.out;
  ASSERT_EQ(h[0].size(), 2u) << r.out;
  EXPECT_NEAR(h[0][0], 1.0, 1e-12);
  EXPECT_NEAR(h[0][1], 3.0, 1e-12);
  EXPECT_NEAR(h[1][0], 3.0, 1e-12);
  EXPECT_NEAR(h[1][1], -std::sin(0.5), 1e-12);
  EXPECT_EQ(hessian.at("variables"), (std::vector<std::string>{"x", "y"})) << r.out;
  for (const auto& row : hessian.at("error").get<std::vector<std::vector<double>>>()) {
    for (double v : row) EXPECT_LT(v, 1e-7);
  }
}

// softsign through the tool: registered where it is defined, found by the expression language
// of a statically linked binary.
TEST(CliGrad, SoftsignFirstAndSecondDerivatives) {
  const Outcome r = run("grad 'softsign(x)' x=0.5 --hessian --json");
  ASSERT_EQ(r.status, 0) << r.out;
  const nlohmann::json j = json_of(r);
  EXPECT_NEAR(j.at("value").get<double>(), 0.5 / 1.5, 1e-15);
  EXPECT_NEAR(j.at("gradient").at("x").at("analytic").get<double>(), 1 / (1.5 * 1.5), 1e-15);
  EXPECT_NEAR(j.at("hessian").at("analytic").at(0).at(0).get<double>(), -2 / (1.5 * 1.5 * 1.5),
              1e-12);
  const Outcome unknown = run("grad 'softsine(x)' x=1");
  EXPECT_EQ(unknown.status, 2);
  EXPECT_NE(unknown.out.find("known: abs acos acosh add"), std::string::npos) << unknown.out;
  EXPECT_NE(unknown.out.find("softsign"), std::string::npos) << unknown.out;
}

TEST(CliHelp, TheListsOfNamesComeFromTheRegistry) {
  const Outcome grad = run("grad --help");
  EXPECT_NE(grad.out.find("leaky_relu"), std::string::npos) << grad.out;
  EXPECT_NE(grad.out.find("softsign"), std::string::npos) << grad.out;
  const Outcome train = run("train --help");
  EXPECT_NE(train.out.find("leaky_relu[:slope]"), std::string::npos) << train.out;
  EXPECT_NE(train.out.find("softsign"), std::string::npos) << train.out;
}

TEST(CliGrad, HessianTableListsEachPairOnce) {
  const Outcome r = run("grad 'cos(sin(x^2) + 3*x^2) * y' x=1.5 y=2 --hessian");
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* entry : {"d2f/dx2", "d2f/dxdy", "d2f/dy2"})
    EXPECT_NE(r.out.find(entry), std::string::npos) << entry << "\n" << r.out;
  EXPECT_EQ(r.out.find("d2f/dydx"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Hessian (reverse over reverse)"), std::string::npos);
}

struct BadInput {
  const char* args;
  const char* message;
  std::size_t caret;  // column of '^' under the expression (0-based), or npos
};

TEST(CliGrad, BadInputQuotesTheExpressionWithACaretAndExitsWith2) {
  const BadInput cases[] = {
      {"grad 'foo(x)' x=1", "unknown function 'foo'", 0},
      {"grad 'sin(x' x=1", "never closed", 3},
      {"grad 'x + 3 # 2' x=1", "unexpected '#'", 6},
      {"grad 'x + y' x=1", "no value given for 'y'", 4},
      {"grad '2 * (x' x=1", "never closed", 4},
      {"grad 'x +' x=1", "expected a number", 3},
      {"grad 'log(x)' x=-1", "log", 0},
      {"grad 'pow(x)' x=1", "takes 2 arguments", 0},
  };
  for (const BadInput& c : cases) {
    SCOPED_TRACE(c.args);
    const Outcome r = run(c.args);
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find(c.message), std::string::npos) << r.out;
    const std::size_t caret_line = r.out.rfind('\n', r.out.find('^'));
    ASSERT_NE(caret_line, std::string::npos) << r.out;
    EXPECT_EQ(r.out.find('^') - caret_line - 1 - 2, c.caret) << r.out;  // 2: indent
  }
}

TEST(CliGrad, BadAssignments) {
  EXPECT_EQ(run("grad 'x' x=abc").status, 2);
  EXPECT_EQ(run("grad 'x' x").status, 2);
  EXPECT_EQ(run("grad 'x' x=1 x=2").status, 2);
  EXPECT_EQ(run("grad").status, 2);
  EXPECT_EQ(run("nonsense").status, 2);
}

TEST(CliGraph, GoldenDot) {
  const Outcome r = run("graph 'sin(x) * x + 2' x=0.5");
  ASSERT_EQ(r.status, 0) << r.out;
  std::ifstream f(std::string(TAPEGRAD_TEST_DIR) + "/golden/graph.dot");
  std::stringstream golden;
  golden << f.rdbuf();
  EXPECT_EQ(r.out, golden.str());
}

TEST(CliGraph, WritesTheFileAtomically) {
  const auto dir = std::filesystem::temp_directory_path() / "tapegrad_cli_test";
  std::filesystem::create_directories(dir);
  const auto path = dir / "g.dot";
  const Outcome r = run("graph 'x*x' x=3 -o " + path.string());
  ASSERT_EQ(r.status, 0) << r.out;
  std::ifstream f(path);
  std::stringstream content;
  content << f.rdbuf();
  EXPECT_NE(content.str().find("grad 6"), std::string::npos) << content.str();
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    EXPECT_EQ(entry.path().filename(), "g.dot");  // no temporary left behind
  }
  std::filesystem::remove_all(dir);
}

TEST(CliDemo, RunsWithoutArguments) {
  const Outcome r = run("");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("dJ/dx"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("-6.74092218514"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("xor"), std::string::npos) << r.out;
}

TEST(CliVersion, PrintsTheVersion) {
  const Outcome r = run("--version");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("tapegrad 0."), std::string::npos) << r.out;
}

// ---- the parser directly ---------------------------------------------------------------------
double value_of(const std::string& text, std::map<std::string, double> values = {}) {
  return cli::evaluate_value(*cli::parse(text), values);
}

TEST(Expression, PrecedenceAndAssociativity) {
  EXPECT_EQ(value_of("1 + 2 * 3"), 7);
  EXPECT_EQ(value_of("-2^2"), -4);    // -(2^2)
  EXPECT_EQ(value_of("2^3^2"), 512);  // 2^(3^2)
  EXPECT_EQ(value_of("2^-1"), 0.5);
  EXPECT_EQ(value_of("8 / 4 / 2"), 1);  // left to right
  EXPECT_EQ(value_of("10 - 3 - 2"), 5);
  EXPECT_EQ(value_of("1e-3 * 2E+3"), 2);
  EXPECT_EQ(value_of(".5 + 1."), 1.5);
  EXPECT_EQ(value_of("max(x, y) - min(x, y)", {{"x", 3}, {"y", 5}}), 2);
  EXPECT_EQ(value_of("pow(2, 10)"), 1024);
  EXPECT_EQ(value_of("--x", {{"x", 4}}), 4);
}

TEST(Expression, VariablesAreListedOnce) {
  EXPECT_EQ(cli::variables(*cli::parse("x * y + x + sin(z1)")),
            (std::vector<std::string>{"x", "y", "z1"}));
}

TEST(Expression, DeepNestingIsAnErrorNotACrash) {
  const std::string deep = std::string(100000, '(') + "1" + std::string(100000, ')');
  EXPECT_THROW((void)cli::parse(deep), cli::ExpressionError);
  const std::string minus(100000, '-');
  EXPECT_THROW((void)cli::parse(minus + "1"), cli::ExpressionError);
}

// Every function computes its own op. (The evaluator used to be an if-chain whose last branch
// computed softplus for any name the parser let through.)
TEST(Expression, EachFunctionComputesItsOwnOp) {
  const double x = 0.7, y = 1.3;
  const std::map<std::string, double> at = {{"x", x}, {"y", y}};
  struct Case {
    const char* text;
    double expected;
  };
  for (const Case& c : {
           Case{"sin(x)", std::sin(x)},
           Case{"cos(x)", std::cos(x)},
           Case{"tan(x)", std::tan(x)},
           Case{"exp(x)", std::exp(x)},
           Case{"log(x)", std::log(x)},
           Case{"sqrt(x)", std::sqrt(x)},
           Case{"abs(-x)", x},
           Case{"tanh(x)", std::tanh(x)},
           Case{"sigmoid(x)", 1 / (1 + std::exp(-x))},
           Case{"relu(-x)", 0},
           Case{"softplus(x)", std::log1p(std::exp(x))},
           Case{"softsign(x)", x / (1 + x)},
           Case{"softsign(-y)", -y / (1 + y)},
           Case{"neg(x)", -x},
           Case{"step(x)", 1},
           Case{"step(x, 1)", 0},
           Case{"leaky_relu(-x)", -0.01 * x},
           Case{"leaky_relu(-x, 0.2)", -0.2 * x},
           Case{"leaky_relu(-x, -0.5)", 0.5 * x},
           Case{"elu(-x)", std::expm1(-x)},
           Case{"elu(-x, 2)", 2 * std::expm1(-x)},
           Case{"identity(x) + linear(y)", x + y},
           Case{"pow(x, y)", std::pow(x, y)},
           Case{"min(x, y)", x},
           Case{"max(x, y)", y},
           Case{"add(x, y) - sub(x, y) * mul(x, y) / div(x, y)", x + y - (x - y) * y * y},
       }) {
    SCOPED_TRACE(c.text);
    EXPECT_NEAR(value_of(c.text, at), c.expected, 1e-14 * (1 + std::abs(c.expected)));
  }
}

TEST(Expression, TheFunctionsAreTheRegisteredOps) {
  const std::string names = cli::function_names();
  for (const tapegrad::Op* op : tapegrad::registered_ops()) {
    const bool callable = op->var != nullptr;
    EXPECT_EQ(names.find(std::string(op->name)) != std::string::npos, callable) << op->name;
  }
  EXPECT_NE(names.find("softsign"), std::string::npos) << names;
  EXPECT_NE(names.find("linear"), std::string::npos) << names;   // an alias
  EXPECT_EQ(names.find("softmax"), std::string::npos) << names;  // tensors only
  try {
    (void)cli::parse("2 * frobnicate(x)");
    FAIL();
  } catch (const cli::ExpressionError& e) {
    EXPECT_EQ(e.position(), 4u);
    EXPECT_EQ(std::string(e.what()), "unknown function 'frobnicate' (known: " + names + ")");
  }
}

TEST(Expression, AParameterIsAnOptionalLastNumber) {
  const auto error_of = [](const char* text) -> std::string {
    try {
      (void)cli::parse(text);
    } catch (const cli::ExpressionError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_EQ(error_of("leaky_relu(x, y)"), "leaky_relu()'s slope must be a number");
  EXPECT_EQ(error_of("leaky_relu(x, 1, 2)"),
            "leaky_relu() takes 1 argument and an optional slope, got 3");
  EXPECT_EQ(error_of("tanh(x, 2)"), "tanh() takes 1 argument, got 2");
  EXPECT_EQ(error_of("softmax(x)").find("unknown function 'softmax'"), 0u);
  EXPECT_EQ(cli::label(*cli::parse("elu(x, 0.5)")), "elu(0.5)");
  EXPECT_EQ(cli::label(*cli::parse("elu(x)")), "elu");
}

// An op a user registers is a function of the expressions at once, through the same door.
Var cube(const Var& x) {
  return x * x * x;
}
tapegrad::Tensor cube(const tapegrad::Tensor& x) {
  return x * x * x;
}
const tapegrad::Op& kCube =
    tapegrad::register_op(tapegrad::unary_op("cube", [](const auto& x) { return cube(x); }));

TEST(Expression, AUserRegisteredOpIsAFunction) {
  EXPECT_EQ(tapegrad::find_op("cube"), &kCube);
  EXPECT_EQ(value_of("cube(x) + 1", {{"x", 2}}), 9);
  const auto root = cli::parse("cube(x)");
  tapegrad::Tape tape;
  tapegrad::TapeGuard guard(tape);
  Var x = 1.5;
  cli::evaluate(*root, {{"x", x}}).value.backward();
  EXPECT_EQ(x.grad(), 3 * 1.5 * 1.5);
}

TEST(Expression, ErrorsCarryThePosition) {
  try {
    (void)cli::parse("1 + sin");
    FAIL();
  } catch (const cli::ExpressionError& e) {
    EXPECT_EQ(e.position(), 4u);
    EXPECT_NE(std::string(e.what()).find("is a function"), std::string::npos);
  }
}

}  // namespace

namespace {

std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

class CliFiles : public tapegrad::testing::TempDirTest {};

TEST_F(CliFiles, TrainDigitsSaveEvalPredict) {
  const Outcome t =
      run("train --data digits --layers 128 --activation relu --epochs 20 --seed 0 --save " +
          path("m.safetensors") + " --metrics " + path("metrics.csv"));
  ASSERT_EQ(t.status, 0) << t.out;
  const std::size_t at = t.out.find("test accuracy: ");
  ASSERT_NE(at, std::string::npos) << t.out;
  EXPECT_GE(std::stod(t.out.substr(at + 15)), 0.97) << t.out;
  EXPECT_NE(t.out.find("confusion matrix"), std::string::npos);
  const std::string metrics = slurp(path("metrics.csv"));
  EXPECT_EQ(metrics.rfind("epoch,loss,train_accuracy,test_accuracy,seconds", 0), 0u) << metrics;
  EXPECT_EQ(std::count(metrics.begin(), metrics.end(), '\n'), 21);

  const Outcome e = run("eval --model " + path("m.safetensors") + " --data digits");
  ASSERT_EQ(e.status, 0) << e.out;
  const std::size_t acc = e.out.find("accuracy on digits (1797 rows): ");
  ASSERT_NE(acc, std::string::npos) << e.out;
  EXPECT_GE(std::stod(e.out.substr(acc + 32)), 0.97);

  const Outcome p =
      run("predict --model " + path("m.safetensors") + " --data digits -o " + path("p.csv"));
  ASSERT_EQ(p.status, 0) << p.out;
  const std::string predictions = slurp(path("p.csv"));
  EXPECT_EQ(predictions.rfind("row,class,p_0,p_1", 0), 0u) << predictions.substr(0, 100);
  EXPECT_EQ(std::count(predictions.begin(), predictions.end(), '\n'), 1798);
}

TEST_F(CliFiles, RegressionOnACsvFileWithANamedTarget) {
  std::ofstream(path("d.csv")) << slurp(std::string(TAPEGRAD_TEST_DIR) +
                                        "/../../data/diabetes.csv");
  const Outcome t = run("train --data " + path("d.csv") +
                        " --target target --layers 16 --epochs 30 --save " + path("r.safetensors"));
  ASSERT_EQ(t.status, 0) << t.out;
  EXPECT_NE(t.out.find("regression"), std::string::npos) << t.out;
  const std::size_t at = t.out.find("test R2: ");
  ASSERT_NE(at, std::string::npos) << t.out;
  EXPECT_GT(std::stod(t.out.substr(at + 9)), 0.3);
  const Outcome p = run("predict --model " + path("r.safetensors") + " --data " + path("d.csv"));
  ASSERT_EQ(p.status, 0) << p.out;
  EXPECT_EQ(p.out.rfind("row,prediction\n0,", 0), 0u) << p.out.substr(0, 80);
}

TEST_F(CliFiles, BadDataAndModelFilesAreReported) {
  std::ofstream(path("bad.csv")) << "1,2,3\n4,x,6\n";
  const Outcome bad = run("train --data " + path("bad.csv"));
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.out.find("bad.csv:2:2: 'x' is not a number"), std::string::npos) << bad.out;
  const Outcome missing = run("train --data " + path("nope.csv"));
  EXPECT_EQ(missing.status, 2);
  EXPECT_NE(missing.out.find("cannot open"), std::string::npos) << missing.out;
  std::ofstream(path("junk.safetensors")) << "this is not a model";
  const Outcome junk = run("eval --model " + path("junk.safetensors") + " --data digits");
  EXPECT_EQ(junk.status, 2);
  EXPECT_NE(junk.out.find("not a safetensors file or truncated"), std::string::npos) << junk.out;
  // A valid safetensors file that is not ours.
  const std::string header = R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})";
  std::string file(8, '\0');
  const std::uint64_t n = header.size();
  std::memcpy(file.data(), &n, 8);
  file += header + std::string(8, '\0');
  std::ofstream(path("other.safetensors"), std::ios::binary) << file;
  const Outcome other = run("eval --model " + path("other.safetensors") + " --data digits");
  EXPECT_EQ(other.status, 2);
  EXPECT_NE(other.out.find("not a tapegrad model"), std::string::npos) << other.out;
  // Truncated model: everything but the last bytes of a real one.
  ASSERT_EQ(run("train --data iris --epochs 1 --save " + path("iris.safetensors")).status, 0);
  const std::string whole = slurp(path("iris.safetensors"));
  std::ofstream(path("cut.safetensors"), std::ios::binary) << whole.substr(0, whole.size() - 7);
  const Outcome cut = run("eval --model " + path("cut.safetensors") + " --data iris");
  EXPECT_EQ(cut.status, 2);
  EXPECT_NE(cut.out.find("truncated"), std::string::npos) << cut.out;
  // The wrong data for the model.
  const Outcome wrong = run("eval --model " + path("iris.safetensors") + " --data digits");
  EXPECT_EQ(wrong.status, 2);
  EXPECT_NE(wrong.out.find("digits has no column 'sepal length (cm)', 'sepal width (cm)'"),
            std::string::npos)
      << wrong.out;
}

// A model file whose metadata disagrees with its tensors, or holds non-finite numbers, is refused
// before anything is allocated from the metadata (issue 14: `sizes = 4,2^60+1,3` overflowed the
// heap, `4,100000000,3` allocated gigabytes).
TEST_F(CliFiles, CraftedModelMetadataIsRefusedBeforeAllocating) {
  ASSERT_EQ(run("train --data iris --epochs 1 --save " + path("iris.safetensors")).status, 0);
  const auto original = tapegrad::io::load_safetensors(path("iris.safetensors"));
  const auto craft = [&](const char* name, const std::string& key, const std::string& value) {
    auto meta = original.metadata;
    meta[key] = value;
    tapegrad::io::save_safetensors(path(name), original.tensors, meta);
    return run("eval --model " + path(name) + " --data iris");
  };
  struct Crafted {
    const char* file;
    const char* key;
    const char* value;
    const char* message;  // part of the refusal
  };
  for (const Crafted& c : {
           Crafted{"huge.safetensors", "sizes", "4,1152921504606846977,3",
                   "metadata 'sizes' (4,1152921504606846977,3) has a layer of"},
           Crafted{"wide.safetensors", "sizes", "4,100000000,3",
                   "metadata 'sizes' (4,100000000,3)"},
           Crafted{"other.safetensors", "sizes", "4,1000,3",
                   "needs 8003 parameters but the file holds"},
           Crafted{"zero.safetensors", "sizes", "4,0,3", "has a layer of 0 units"},
           Crafted{"mean.safetensors", "mean", "0,nan,0,0",
                   "metadata 'mean' holds a non-finite value"},
           Crafted{"scale.safetensors", "scale", "1,1,inf,1",
                   "metadata 'scale' holds a non-finite value"},
       }) {
    SCOPED_TRACE(c.file);
    const Outcome o = craft(c.file, c.key, c.value);
    EXPECT_EQ(o.status, 2) << o.out;
    EXPECT_NE(o.out.find(c.message), std::string::npos) << o.out;
  }
  // A NaN weight.
  auto tensors = original.tensors;
  ASSERT_FALSE(tensors.empty());
  const tapegrad::Tensor w = tensors[0].tensor;
  std::vector<double> values = w.to_vector();
  values[0] = NAN;
  tensors[0].tensor = tapegrad::Tensor::from(std::span<const double>(values), w.shape(), w.dtype());
  tapegrad::io::save_safetensors(path("nan.safetensors"), tensors, original.metadata);
  const Outcome nan = run("eval --model " + path("nan.safetensors") + " --data iris");
  EXPECT_EQ(nan.status, 2) << nan.out;
  EXPECT_NE(nan.out.find("tensor '" + tensors[0].name + "' holds a non-finite value"),
            std::string::npos)
      << nan.out;
  // The untouched file still loads.
  EXPECT_EQ(run("eval --model " + path("iris.safetensors") + " --data iris").status, 0);
}

// Every activation train accepts is written to the model file in a form eval reads back
// (issue 14: leaky_relu, elu and step:0.5 were saved as "leaky_relu(0.01)" and then refused).
TEST_F(CliFiles, EveryActivationRoundTripsThroughAModelFile) {
  for (const char* activation :
       {"identity", "linear", "step", "step:0.5", "sigmoid", "tanh", "relu", "leaky_relu",
        "leaky_relu:0.2", "elu", "elu:0.7", "softplus", "softsign", "softmax", "log_softmax"}) {
    SCOPED_TRACE(activation);
    const std::string model = path("m.safetensors");
    const Outcome t = run(std::string("train --data iris --epochs 1 --activation ") + activation +
                          " --save " + model);
    ASSERT_EQ(t.status, 0) << t.out;
    const Outcome e = run("eval --model " + model + " --data iris");
    EXPECT_EQ(e.status, 0) << e.out;
    const auto file = tapegrad::io::load_safetensors(model);
    const tapegrad::nn::Activation written =
        tapegrad::nn::Activation::parse(file.metadata.at("activation"));
    const tapegrad::nn::Activation asked = tapegrad::nn::Activation::parse(activation);
    EXPECT_EQ(written, asked);
  }
}

// Model files store each weight as PyTorch's nn.Linear does, (out, in), under the keys an
// nn.Sequential of Linear and activation layers has; the layer holds it as (in, out).
TEST_F(CliFiles, ModelFilesStoreWeightsAsPyTorchsLinearDoes) {
  const std::string model = path("m.safetensors");
  ASSERT_EQ(run("train --data iris --layers 5 --epochs 2 --save " + model).status, 0);
  const auto file = tapegrad::io::load_safetensors(model);
  EXPECT_EQ(file.metadata.at("format"), "tapegrad.mlp.v2");
  EXPECT_EQ(file.metadata.at("weight_layout"), "out_in");
  std::vector<std::string> names;
  for (const auto& t : file.tensors) names.push_back(t.name);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
  EXPECT_EQ(file.tensors[0].tensor.shape(), tapegrad::Shape({5, 4}));
  EXPECT_EQ(file.tensors[2].tensor.shape(), tapegrad::Shape({3, 5}));
  const auto [spec, net] = cli::load_model(model);
  const auto params = net.named_parameters();
  ASSERT_EQ(params[0].tensor.shape(), tapegrad::Shape({4, 5}));
  for (std::int64_t o = 0; o < 5; ++o) {
    for (std::int64_t i = 0; i < 4; ++i) {
      EXPECT_EQ(file.tensors[0].tensor.get(o, i), params[0].tensor.get(i, o));
    }
  }
}

// A model file of the first schema, (in, out) weights, is still read, converted on load.
TEST_F(CliFiles, AVersion1ModelFileGivesTheSamePredictions) {
  const std::string v2 = path("v2.safetensors");
  ASSERT_EQ(run("train --data iris --layers 6 --epochs 3 --save " + v2).status, 0);
  auto file = tapegrad::io::load_safetensors(v2);
  for (auto& t : file.tensors) {
    if (t.tensor.dim() != 2) continue;
    const std::int64_t rows = t.tensor.shape()[0], cols = t.tensor.shape()[1];
    std::vector<double> transposed;
    for (std::int64_t c = 0; c < cols; ++c) {
      for (std::int64_t r = 0; r < rows; ++r) transposed.push_back(t.tensor.get(r, c));
    }
    t.tensor =
        tapegrad::Tensor::from(std::span<const double>(transposed), {cols, rows}, t.tensor.dtype());
  }
  file.metadata["format"] = "tapegrad.mlp.v1";
  file.metadata.erase("weight_layout");
  const std::string v1 = path("v1.safetensors");
  tapegrad::io::save_safetensors(v1, file.tensors, file.metadata);
  const Outcome a = run("predict --model " + v2 + " --data iris");
  const Outcome b = run("predict --model " + v1 + " --data iris");
  ASSERT_EQ(a.status, 0) << a.out;
  ASSERT_EQ(b.status, 0) << b.out;
  EXPECT_EQ(std::count(a.out.begin(), a.out.end(), '\n'), 151);
  EXPECT_EQ(a.out, b.out);
  // The file checked in for the fuzzer, written by tapegrad 0.1 before v2, still evaluates.
  const Outcome old = run("eval --model " + std::string(TAPEGRAD_TEST_DIR) +
                          "/../fuzz/corpus/model/iris_classify.safetensors --data iris");
  EXPECT_EQ(old.status, 0) << old.out;
  // A v1 file holding the v2 layout is refused: the shapes then disagree.
  file = tapegrad::io::load_safetensors(v2);
  file.metadata["format"] = "tapegrad.mlp.v1";
  tapegrad::io::save_safetensors(path("mixed.safetensors"), file.tensors, file.metadata);
  const Outcome mixed = run("eval --model " + path("mixed.safetensors") + " --data iris");
  EXPECT_EQ(mixed.status, 2) << mixed.out;
  EXPECT_NE(mixed.out.find("'0.weight' is float32 (6, 4) in the file, float32 (4, 6) in the model"),
            std::string::npos)
      << mixed.out;
}

TEST_F(CliFiles, AModelFileWithATensorThatCannotBeConvertedIsRefusedNamingIt) {
  const std::string model = path("m.safetensors");
  ASSERT_EQ(run("train --data iris --layers 2 --epochs 1 --save " + model).status, 0);
  std::string bytes = slurp(model);
  // 0.bias (2 floats, 8 bytes) becomes 8 BOOLs of shape [2, 4]: the same bytes, another dtype.
  const std::size_t at = bytes.find(R"("0.bias":{"dtype":"F32","shape":[2])");
  ASSERT_NE(at, std::string::npos) << bytes.substr(0, 400);
  bytes.replace(at, 35, R"("0.bias":{"dtype":"BOOL","shape":[8])");
  // The header grew by a byte: so does its length (the 8 bytes before it).
  std::uint64_t length = 0;
  std::memcpy(&length, bytes.data(), 8);
  ++length;
  std::memcpy(bytes.data(), &length, 8);
  std::ofstream(path("bool.safetensors"), std::ios::binary) << bytes;
  const Outcome o = run("eval --model " + path("bool.safetensors") + " --data iris");
  EXPECT_EQ(o.status, 2) << o.out;
  EXPECT_NE(o.out.find("tensor '0.bias' is BOOL, which tapegrad cannot convert to float32"),
            std::string::npos)
      << o.out;
}

// A model file's header is JSON, which must be UTF-8: a column name in Latin-1 is refused
// before training, naming the column, rather than written raw into a header other readers
// reject. Without --save the same data trains.
TEST_F(CliFiles, ColumnNamesThatAreNotUtf8AreRefusedBeforeTrainingASavedModel) {
  std::ofstream(path("latin1.csv"), std::ios::binary)
      << "size,caf\xE9,label\n1,2,0\n2,1,1\n3,3,0\n4,2,1\n5,1,0\n6,0,1\n";
  const Outcome o =
      run("train --data " + path("latin1.csv") + " --epochs 1 --save " + path("m.safetensors"));
  EXPECT_EQ(o.status, 2) << o.out;
  EXPECT_NE(o.out.find("the name of feature column 2 is not valid UTF-8 (incomplete UTF-8 "
                       "string; last byte: 0xE9)"),
            std::string::npos)
      << o.out;
  EXPECT_EQ(o.out.find("epoch"), std::string::npos) << o.out;
  EXPECT_FALSE(std::filesystem::exists(path("m.safetensors")));
  EXPECT_EQ(run("train --data " + path("latin1.csv") + " --epochs 1").status, 0);
  // UTF-8 names are kept byte for byte.
  std::ofstream(path("utf8.csv"), std::ios::binary)
      << "size,caf\xC3\xA9,label\n1,2,0\n2,1,1\n3,3,0\n4,2,1\n5,1,0\n6,0,1\n";
  ASSERT_EQ(run("train --data " + path("utf8.csv") + " --epochs 1 --save " + path("m.safetensors"))
                .status,
            0);
  EXPECT_EQ(tapegrad::io::load_safetensors(path("m.safetensors")).metadata.at("features"),
            "size\ncaf\xC3\xA9");
  EXPECT_EQ(run("eval --model " + path("m.safetensors") + " --data " + path("utf8.csv")).status, 0);
}

TEST(CliThreads, TheThreadCountIsAnOptionAndAnEnvironmentVariable) {
  EXPECT_EQ(run("--threads 1 train --data iris --epochs 1").status, 0);
  EXPECT_EQ(run("--threads 0 train --data iris --epochs 1").status, 2);
  const Outcome env = run_with_env("TAPEGRAD_NUM_THREADS=many", "grad x x=1");
  EXPECT_EQ(env.status, 2) << env.out;  // bad input, not a failure
  EXPECT_EQ(run_with_env("TAPEGRAD_NUM_THREADS=abc", "train --data iris --epochs 1").status, 2);
  EXPECT_NE(env.out.find("TAPEGRAD_NUM_THREADS: got \"many\""), std::string::npos) << env.out;
  EXPECT_EQ(run_with_env("TAPEGRAD_NUM_THREADS=2", "grad x x=1").status, 0);
}

// Global options work on either side of the subcommand, and are checked the same way there.
TEST(CliThreads, GlobalOptionsMayFollowTheSubcommand) {
  EXPECT_EQ(run("train --data iris --epochs 1 --threads 2").status, 0);
  EXPECT_EQ(run("grad x x=1 --threads 1").status, 0);
  const Outcome zero = run("train --threads 0 --data iris --epochs 1");
  EXPECT_EQ(zero.status, 2) << zero.out;
  EXPECT_NE(zero.out.find("--threads"), std::string::npos) << zero.out;
  EXPECT_EQ(zero.out.find("epoch "), std::string::npos) << zero.out;
  EXPECT_EQ(run("train --data iris --epochs 1 --no-such-option").status, 2);
}

TEST(CliTrain, ConflictingRegimesAreRejected) {
  EXPECT_EQ(run("train --data iris --online --full-batch").status, 2);
  EXPECT_EQ(run("train --data iris --optimizer rmsprop").status, 2);
  EXPECT_EQ(run("train --data iris --activation swish").status, 2);
  EXPECT_EQ(run("train --data iris --online --epochs 1").status, 0);
  EXPECT_EQ(run("train --data iris --full-batch --epochs 1").status, 0);
}

// Every bad option value is refused before any data is read or any epoch runs, with exit 2 and
// a short message naming the option (not CLI11's range over doubles, not a library internal).
TEST(CliTrain, EveryBadOptionValueIsRefusedUpFrontNamingTheOption) {
  struct Case {
    const char* options;
    const char* message;
  };
  const Case cases[] = {
      {"--lr nan", "--lr must be a positive finite number; got nan"},
      {"--lr -1", "--lr must be a positive finite number; got -1"},
      {"--lr 0", "--lr must be a positive finite number; got 0"},
      {"--activation elu:nan", "'nan' is not a valid parameter for elu"},
      {"--activation leaky_relu:inf", "'inf' is not a valid parameter for leaky_relu"},
      {"--activation step:-inf", "'-inf' is not a valid parameter for step"},
      {"--batch 0", "--batch: must be an integer from 1 to 9223372036854775807; got '0'"},
      {"--epochs -1", "--epochs: must be an integer from 0 to 2147483647; got '-1'"},
      {"--seed -1", "--seed: must be an integer from 0 to 18446744073709551615; got '-1'"},
      {"--test-split nan", "--test-split must be in [0, 1); got nan"},
      {"--test-split 0.999", "--test-split 0.999 leaves none of the 150 rows for training"},
      {"--layers 0", "--layers: a hidden layer of 0 units; widths must be 1 to 1048576"},
      {"--layers 100000,100000",
       "--layers 100000,100000 makes a network of 10000900003 parameters; the limit is "
       "268435456"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.options);
    const Outcome r = run(std::string("train --data iris --epochs 1 ") + c.options);
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find(c.message), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("epoch "), std::string::npos) << r.out;
    EXPECT_LT(r.out.size(), 200u) << r.out;
  }
}

}  // namespace

namespace {
TEST(CliHelp, EverySubcommandHasHelp) {
  for (const char* command : {"grad", "graph", "train", "eval", "predict", "demo"}) {
    SCOPED_TRACE(command);
    const Outcome r = run(std::string(command) + " --help");
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << r.out;
  }
  EXPECT_NE(run("train --help").out.find("--full-batch"), std::string::npos);
  EXPECT_NE(run("--help").out.find("predict"), std::string::npos);
}
}  // namespace

namespace {
TEST_F(CliFiles, TrainingThatDivergesStopsWithStatusOneAndSavesNoModel) {
  const std::string model = path("diverged.safetensors");
  const std::string metrics = path("diverged.csv");
  const Outcome t = run("train --data diabetes --optimizer sgd --lr 1e6 --epochs 5 --save " +
                        model + " --metrics " + metrics);
  EXPECT_EQ(t.status, 1) << t.out;
  EXPECT_NE(t.out.find("training diverged at epoch 1"), std::string::npos) << t.out;
  EXPECT_EQ(t.out.find("epoch   2/5"), std::string::npos) << t.out;  // stopped there
  EXPECT_FALSE(std::filesystem::exists(model));
  EXPECT_TRUE(std::filesystem::exists(metrics));  // what happened, for the user to look at
  // A sane learning rate still trains and saves.
  EXPECT_EQ(run("train --data diabetes --epochs 2 --save " + model).status, 0);
  EXPECT_TRUE(std::filesystem::exists(model));
}
}  // namespace

namespace {
TEST_F(CliFiles, ClassLabelsTooLargeForTheDataAreRefusedNamingTheRow) {
  for (const char* label : {"3000000", "999999999"}) {
    SCOPED_TRACE(label);
    std::ofstream(path("labels.csv")) << "a,b,label\n1,2,0\n3,4," << label << "\n5,6,1\n";
    const Outcome t = run("train --data " + path("labels.csv") + " --epochs 1");
    EXPECT_EQ(t.status, 2) << t.out;
    EXPECT_NE(t.out.find(std::string("row 1: class label ") + label), std::string::npos) << t.out;
  }
  // Small labels, even with gaps, still train: a 3-row file with labels 0, 9, 1 has 10 outputs.
  std::ofstream(path("gaps.csv")) << "a,b,label\n1,2,0\n3,4,9\n5,6,1\n";
  EXPECT_EQ(run("train --data " + path("gaps.csv") + " --epochs 1 --test-split 0").status, 0);
}
}  // namespace

namespace {
std::string repeated_sum(int terms) {
  std::string s = "x";
  for (int i = 1; i < terms; ++i) s += "+x";
  return s;
}

TEST(CliGrad, AVeryLongSumIsRefusedCleanlyAndALongOneWorks) {
  // 10^4 terms overflowed the stack (the tree is as deep as the sum is long).
  const Outcome deep = run("grad '" + repeated_sum(10000) + "' x=1");
  EXPECT_EQ(deep.status, 2) << deep.out.substr(0, 300);
  EXPECT_NE(deep.out.find("more than 256 operations deep"), std::string::npos)
      << deep.out.substr(0, 300);
  const Outcome chain = run("grad '" + std::string(5000, '-') + "x' x=1");  // unary minus
  EXPECT_EQ(chain.status, 2);
  const Outcome ok = run("grad '" + repeated_sum(250) + "' x=1");
  EXPECT_EQ(ok.status, 0) << ok.out.substr(0, 300);
  EXPECT_NE(ok.out.find("250"), std::string::npos) << ok.out.substr(0, 300);
}
}  // namespace

// ---- writing outputs (issue 14, "Writing outputs") -------------------------------------------
namespace {
using tapegrad::testing::partial_files;

std::string write_script(const std::filesystem::path& path, const std::string& body) {
  std::ofstream(path) << "#!/bin/sh\n" << body << "\n";
  std::filesystem::permissions(path, std::filesystem::perms(0755));
  return path.string();
}

TEST_F(CliFiles, SaveAndMetricsThroughSymlinksWriteTheTargetsAndKeepTheLinks) {
  std::filesystem::create_directories(dir() / "store");
  std::ofstream(path("store/model.safetensors")) << "old";
  std::filesystem::create_symlink("store/model.safetensors", path("model"));
  std::filesystem::create_symlink("store/metrics.csv", path("metrics"));  // dangling: created
  const Outcome t =
      run("train --data iris --epochs 2 --save " + path("model") + " --metrics " + path("metrics"));
  ASSERT_EQ(t.status, 0) << t.out;
  EXPECT_TRUE(std::filesystem::is_symlink(path("model")));
  EXPECT_TRUE(std::filesystem::is_symlink(path("metrics")));
  EXPECT_EQ(tapegrad::io::load_safetensors(path("store/model.safetensors")).metadata.at("format"),
            tapegrad::io::load_safetensors(path("model")).metadata.at("format"));
  EXPECT_EQ(slurp(path("store/metrics.csv")).rfind("epoch,loss", 0), 0u);
  EXPECT_TRUE(partial_files(dir()).empty());
  EXPECT_TRUE(partial_files(dir() / "store").empty());
}

// A write the system refuses (the file size limit here, as a full disk would) is status 1 with
// the reason; the previous file is kept and no temporary is left.
TEST_F(CliFiles, AFailedWriteKeepsTheOldFileAndSaysWhy) {
  ASSERT_EQ(run("train --data iris --epochs 1 --save " + path("m.safetensors")).status, 0);
  std::ofstream(path("p.csv")) << "old\n";
  const Outcome p =
      run_with_env("trap '' XFSZ; ulimit -f 1;",
                   "predict --model " + path("m.safetensors") + " --data iris -o " + path("p.csv"));
  EXPECT_EQ(p.status, 1) << p.out;
  EXPECT_NE(p.out.find(path("p.csv") + ": writing failed (File too large)"), std::string::npos)
      << p.out;
  EXPECT_EQ(slurp(path("p.csv")), "old\n");
  EXPECT_TRUE(partial_files(dir()).empty());
}

TEST_F(CliFiles, GraphOntoADirectoryIsRefusedAndLeavesNothing) {
  std::filesystem::create_directories(path("g.dot") + "/inside");
  const Outcome r = run("graph 'x*x' x=3 -o " + path("g.dot"));
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find(path("g.dot") + " is a directory"), std::string::npos) << r.out;
  EXPECT_TRUE(std::filesystem::is_directory(path("g.dot")));
  EXPECT_TRUE(partial_files(dir()).empty());
}

// Graphviz renders into the output's temporary (its standard output), which replaces the file
// only when dot succeeds. A stand-in dot keeps the test independent of Graphviz.
TEST_F(CliFiles, RenderedGraphsAreWrittenAtomicallyThroughLinks) {
  std::filesystem::create_directories(path("bin"));
  std::filesystem::create_symlink("real.svg", path("link.svg"));
  const std::string fails = "PATH=" + path("bin") + ":$PATH";
  write_script(path("bin/dot"), "cat >/dev/null; printf 'half an svg'; exit 1");
  std::ofstream(path("real.svg")) << "old";
  const Outcome failed = run_with_env(fails, "graph 'x*x' x=3 -o " + path("link.svg"));
  EXPECT_EQ(failed.status, 1) << failed.out;
  EXPECT_NE(failed.out.find("Graphviz failed to render"), std::string::npos) << failed.out;
  EXPECT_EQ(slurp(path("real.svg")), "old");
  write_script(path("bin/dot"), "printf '<svg>'; cat; printf '</svg>'");  // echoes the graph
  const Outcome done = run_with_env(fails, "graph 'x*x' x=3 -o " + path("link.svg"));
  ASSERT_EQ(done.status, 0) << done.out;
  EXPECT_TRUE(std::filesystem::is_symlink(path("link.svg")));
  const std::string svg = slurp(path("real.svg"));
  EXPECT_EQ(svg.rfind("<svg>digraph tapegrad", 0), 0u) << svg;
  EXPECT_NE(svg.find("grad 6"), std::string::npos) << svg;
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(dir()))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"bin", "link.svg", "real.svg"}));
}

// The output's extension names the format: .dot and .gv are DOT text; .svg, .png and .pdf are
// rendered by Graphviz (here a stand-in that shows the type it was asked for); anything else is
// refused before anything is written, rather than given DOT text under a name that promises
// something else.
TEST_F(CliFiles, TheGraphFormatIsNamedByTheExtension) {
  std::filesystem::create_directories(path("bin"));
  write_script(path("bin/dot"), "printf '%s:' \"$1\"; cat");
  const std::string stand_in = "PATH=" + path("bin") + ":$PATH";
  for (const char* name : {"g.dot", "g.gv", "G.DOT"}) {
    SCOPED_TRACE(name);
    ASSERT_EQ(run_with_env(stand_in, "graph 'x*x' x=3 -o " + path(name)).status, 0);
    EXPECT_EQ(slurp(path(name)).rfind("digraph tapegrad", 0), 0u);
  }
  for (const auto& [name, type] : {std::pair{"g.svg", "-Tsvg"}, std::pair{"g.png", "-Tpng"},
                                   std::pair{"g.pdf", "-Tpdf"}, std::pair{"g2.PDF", "-Tpdf"}}) {
    SCOPED_TRACE(name);
    ASSERT_EQ(run_with_env(stand_in, "graph 'x*x' x=3 -o " + path(name)).status, 0);
    EXPECT_EQ(slurp(path(name)).rfind(std::string(type) + ":digraph tapegrad", 0), 0u);
  }
  for (const char* name : {"g.txt", "g.jpeg", "graph", "g.pdf.tmp"}) {
    SCOPED_TRACE(name);
    const Outcome r = run_with_env(stand_in, "graph 'x*x' x=3 -o " + path(name));
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("-o " + path(name) +
                         ": the file's extension names the format, one of "
                         ".dot, .gv, .svg, .png, .pdf"),
              std::string::npos)
        << r.out;
    EXPECT_FALSE(std::filesystem::exists(path(name)));
  }
  EXPECT_TRUE(partial_files(dir()).empty());
}

TEST_F(CliFiles, GraphvizRendersAnSvgThroughALink) {
  if (std::system("command -v dot >/dev/null 2>&1") != 0) GTEST_SKIP() << "Graphviz is missing";
  std::filesystem::create_symlink("g.svg", path("link.svg"));
  const Outcome r = run("graph 'sin(x)*x' x=1 -o " + path("link.svg"));
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_TRUE(std::filesystem::is_symlink(path("link.svg")));
  EXPECT_NE(slurp(path("g.svg")).find("<svg"), std::string::npos);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir()), {}), 2);
}

// Every refusal below happens before the data is read: no "epoch" line, nothing written.
TEST_F(CliFiles, OutputsThatAreNotRegularFilesAreRefusedBeforeTraining) {
  std::filesystem::create_directories(path("dir"));
  ASSERT_EQ(::mkfifo(path("fifo").c_str(), 0600), 0);
  struct Case {
    std::string options, message;
  };
  std::vector<Case> cases = {
      {"--save " + path("dir"), "--save: " + path("dir") + " is a directory"},
      {"--metrics " + path("fifo"), "--metrics: " + path("fifo") + " is a named pipe (FIFO)"},
  };
  const std::filesystem::path device = tapegrad::testing::character_device_for_tests(dir());
  if (!device.empty()) {
    cases.push_back({"--save " + device.string(), device.string() + " is a character device"});
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.options);
    const Outcome t = run("train --data iris --epochs 1 " + c.options);
    EXPECT_EQ(t.status, 2) << t.out;
    EXPECT_NE(t.out.find(c.message), std::string::npos) << t.out;
    EXPECT_EQ(t.out.find("epoch"), std::string::npos) << t.out;
  }
  EXPECT_TRUE(std::filesystem::is_directory(path("dir")));
  EXPECT_TRUE(std::filesystem::is_fifo(path("fifo")));
  if (!device.empty()) {
    EXPECT_TRUE(std::filesystem::is_character_file(device));
  }
  EXPECT_TRUE(partial_files(dir()).empty());
}

TEST_F(CliFiles, AnOutputThatIsAnInputIsRefused) {
  std::ofstream(path("data.csv")) << slurp(std::string(TAPEGRAD_TEST_DIR) + "/../../data/iris.csv");
  std::filesystem::create_symlink("data.csv", path("alias.csv"));
  ASSERT_EQ(run("train --data iris --epochs 1 --save " + path("m.safetensors")).status, 0);
  const std::string data = slurp(path("data.csv"));
  const std::string model = slurp(path("m.safetensors"));
  const std::string d = path("data.csv"), m = path("m.safetensors");
  struct Case {
    std::string command;
    const char* output_option;
    const char* input_option;
  };
  const Case cases[] = {
      {"train --epochs 1 --data " + d + " --save " + d, "--save", "--data"},
      {"train --epochs 1 --data " + d + " --metrics " + d, "--metrics", "--data"},
      {"train --epochs 1 --data " + d + " --save " + path("alias.csv"), "--save", "--data"},
      {"train --epochs 1 --data " + d + " --save " + dir().string() + "/../" +
           dir().filename().string() + "/data.csv",
       "--save", "--data"},
      {"train --epochs 1 --data iris --save " + path("new") + " --metrics " + path("new"),
       "--metrics", "--save"},
      {"predict --model " + m + " --data " + d + " -o " + d, "-o", "--data"},
      {"predict --model " + m + " --data " + d + " -o " + m, "-o", "--model"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.command);
    const Outcome r = run(c.command);
    EXPECT_EQ(r.status, 2) << r.out;
    EXPECT_NE(r.out.find("are the same file"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(std::string(c.output_option) + " "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(std::string(c.input_option) + " "), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("epoch "), std::string::npos) << r.out;
  }
  EXPECT_EQ(slurp(path("data.csv")), data);
  EXPECT_EQ(slurp(path("m.safetensors")), model);
  EXPECT_TRUE(std::filesystem::is_symlink(path("alias.csv")));
  EXPECT_FALSE(std::filesystem::exists(path("new")));
}

TEST_F(CliFiles, AnOutputThatCannotBeWrittenIsRefusedBeforeTraining) {
  std::ofstream(path("file")) << "a regular file";
  struct Case {
    std::string options, message;
  };
  const Case cases[] = {
      {"--save " + path("missing/m.safetensors"), "--save: " + path("missing/m.safetensors") +
                                                      ": the directory " + path("missing") +
                                                      " does not exist"},
      {"--metrics " + path("missing/m.csv"), "--metrics: "},
      {"--save " + path("file/m.safetensors"), "Not a directory"},
      {"--save " + path("new_dir") + "/", "names a directory"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.options);
    const Outcome t = run("train --data iris --epochs 1 " + c.options);
    EXPECT_EQ(t.status, 2) << t.out;
    EXPECT_NE(t.out.find(c.message), std::string::npos) << t.out;
    EXPECT_EQ(t.out.find("epoch"), std::string::npos) << t.out;
  }
}

TEST_F(CliFiles, AReadOnlySaveDirectoryIsRefusedBeforeTraining) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "root writes into a 0500 directory anyway, so there is nothing to refuse";
  }
  std::filesystem::create_directories(path("ro"));
  std::filesystem::permissions(path("ro"), std::filesystem::perms(0500));
  const Outcome t = run("train --data iris --epochs 1 --save " + path("ro/m.safetensors"));
  std::filesystem::permissions(path("ro"), std::filesystem::perms(0700));
  EXPECT_EQ(t.status, 2) << t.out;
  EXPECT_NE(t.out.find("--save: " + path("ro/m.safetensors") + ": cannot create a file in"),
            std::string::npos)
      << t.out;
  EXPECT_EQ(t.out.find("epoch"), std::string::npos) << t.out;
}
}  // namespace

// ---- eval and predict take the model's columns by name (issue 14) ----------------------------
namespace {

// The CSV `text` with its columns in the order `columns` (indices into its fields); -1 adds an
// "id" column of words.
std::string with_columns(const std::string& text, const std::vector<int>& columns) {
  std::istringstream in(text);
  std::string line, out;
  for (int row = 0; std::getline(in, line); ++row) {
    std::vector<std::string> fields;
    std::stringstream split(line);
    for (std::string f; std::getline(split, f, ',');) fields.push_back(f);
    for (std::size_t k = 0; k < columns.size(); ++k) {
      if (k > 0) out += ',';
      out += columns[k] < 0 ? (row == 0 ? "id" : "patient-" + std::to_string(row))
                            : fields.at(static_cast<std::size_t>(columns[k]));
    }
    out += '\n';
  }
  return out;
}

// The number after `key` in the tool's output, as printed.
std::string printed_after(const std::string& out, const std::string& key) {
  const std::size_t at = out.find(key);
  if (at == std::string::npos) return "(not printed)";
  return out.substr(at + key.size(), out.find('\n', at) - at - key.size());
}

// diabetes.csv: age,sex,bmi,bp,s1,s2,s3,s4,s5,s6,target. Trained with --target bmi, a column in
// the middle: before, eval without --target took the last column as the target, and a copy with
// the columns in another order gave R² -56 with exit status 0.
TEST_F(CliFiles, EvalAndPredictFindTheModelsColumnsByName) {
  const std::string diabetes = slurp(std::string(TAPEGRAD_TEST_DIR) + "/../../data/diabetes.csv");
  std::ofstream(path("d.csv")) << diabetes;
  // Columns shuffled, an extra column of words, the target first.
  std::ofstream(path("shuffled.csv"))
      << with_columns(diabetes, {2, 7, -1, 0, 9, 4, 1, 10, 8, 3, 6, 5});
  std::ofstream(path("features.csv")) << with_columns(diabetes, {9, 8, 7, 6, 5, 4, 3, 1, 0, 10});
  std::ofstream(path("missing.csv")) << with_columns(diabetes, {0, 1, 2, 3, 5, 6, 7, 8, 9, 10});
  const std::string model = path("m.safetensors");
  const Outcome t =
      run("train --data " + path("d.csv") + " --target bmi --epochs 5 --save " + model);
  ASSERT_EQ(t.status, 0) << t.out;
  const std::string trained = printed_after(t.out, "test R2: ");

  const Outcome e = run("eval --model " + model + " --data " + path("d.csv"));
  ASSERT_EQ(e.status, 0) << e.out;
  const Outcome s = run("eval --model " + model + " --data " + path("shuffled.csv"));
  ASSERT_EQ(s.status, 0) << s.out;
  EXPECT_EQ(printed_after(s.out, "(442 rows): "), printed_after(e.out, "(442 rows): ")) << s.out;
  EXPECT_GT(std::stod(printed_after(e.out, "(442 rows): ")), 0.0)
      << e.out << "\ntrained " << trained;

  const Outcome p = run("predict --model " + model + " --data " + path("d.csv"));
  ASSERT_EQ(p.status, 0) << p.out.substr(0, 200);
  const Outcome ps = run("predict --model " + model + " --data " + path("shuffled.csv"));
  EXPECT_EQ(ps.status, 0) << ps.out.substr(0, 200);
  EXPECT_EQ(ps.out, p.out);
  // Data to predict on need not have the target column.
  const Outcome pf = run("predict --model " + model + " --data " + path("features.csv"));
  EXPECT_EQ(pf.status, 0) << pf.out.substr(0, 200);
  EXPECT_EQ(pf.out, p.out);
  const Outcome ef = run("eval --model " + model + " --data " + path("features.csv"));
  EXPECT_EQ(ef.status, 2) << ef.out;
  EXPECT_NE(ef.out.find("no column 'bmi', the model's target"), std::string::npos) << ef.out;

  // A file without one of the model's features (s1) is refused naming it.
  for (const char* command : {"eval", "predict"}) {
    SCOPED_TRACE(command);
    const Outcome m =
        run(std::string(command) + " --model " + model + " --data " + path("missing.csv"));
    EXPECT_EQ(m.status, 2) << m.out;
    EXPECT_NE(m.out.find("missing.csv has no column 's1', which the model takes"),
              std::string::npos)
        << m.out;
  }
}

TEST_F(CliFiles, TrainSavesTheFeatureAndTargetNames) {
  std::ofstream(path("d.csv")) << "\"width, cm\",height,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n";
  ASSERT_EQ(
      run("train --data " + path("d.csv") + " --epochs 1 --save " + path("c.safetensors")).status,
      0);
  const auto csv = tapegrad::io::load_safetensors(path("c.safetensors"));
  EXPECT_EQ(csv.metadata.at("features"), "width, cm\nheight");
  EXPECT_EQ(csv.metadata.at("target"), "label");
  ASSERT_EQ(run("train --data iris --epochs 1 --save " + path("i.safetensors")).status, 0);
  const auto iris = tapegrad::io::load_safetensors(path("i.safetensors"));
  EXPECT_EQ(iris.metadata.at("features").substr(0, 18), "sepal length (cm)\n");
  EXPECT_EQ(iris.metadata.at("target"), "target");
  // A model trained on named columns needs them: the bundled iris has other names.
  std::ofstream(path("four.csv")) << "a,b,c,d,y\n5.1,3.5,1.4,0.2,0\n4.9,3,1.4,0.2,1\n"
                                     "4.7,3.2,1.3,0.2,2\n4.6,3.1,1.5,0.2,0\n";
  ASSERT_EQ(run("train --data " + path("four.csv") + " --epochs 1 --test-split 0 --save " +
                path("f.safetensors"))
                .status,
            0);
  const Outcome o = run("eval --model " + path("f.safetensors") + " --data iris");
  EXPECT_EQ(o.status, 2) << o.out;
  EXPECT_NE(o.out.find("iris has no column 'a', 'b', 'c', 'd', which the model takes"),
            std::string::npos)
      << o.out;
}

// A name from a file is printed with its control characters escaped: a crafted header cannot
// write escape sequences to the user's terminal through an error message.
TEST_F(CliFiles, NamesInMessagesHaveTheirControlCharactersEscaped) {
  std::ofstream(path("esc.csv")) << "a\x1b[2J,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n";
  ASSERT_EQ(run("train --data " + path("esc.csv") + " --epochs 1 --test-split 0 --save " +
                path("e.safetensors"))
                .status,
            0);
  std::ofstream(path("other.csv")) << "b,c,y\n1,2,0\n3,4,1\n";
  const Outcome o = run("eval --model " + path("e.safetensors") + " --data " + path("other.csv"));
  EXPECT_EQ(o.status, 2) << o.out;
  EXPECT_NE(o.out.find("no column 'a\\x1b[2J', which the model takes"), std::string::npos) << o.out;
  EXPECT_EQ(o.out.find('\x1b'), std::string::npos) << o.out;
}

// Without names on one side, columns go by position, and the width must fit.
TEST_F(CliFiles, WithoutNamesColumnsGoByPositionAndTheWidthMustFit) {
  std::ofstream(path("plain.csv")) << "1,2,0\n3,4,1\n5,6,0\n7,8,1\n";
  std::ofstream(path("header.csv")) << "p,q,r\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n";
  std::ofstream(path("wide.csv")) << "1,2,3,0\n3,4,5,1\n";
  ASSERT_EQ(run("train --data " + path("plain.csv") + " --epochs 1 --save " + path("p.safetensors"))
                .status,
            0);
  EXPECT_EQ(tapegrad::io::load_safetensors(path("p.safetensors")).metadata.at("features"), "");
  EXPECT_EQ(run("eval --model " + path("p.safetensors") + " --data " + path("header.csv")).status,
            0);
  const Outcome wide = run("eval --model " + path("p.safetensors") + " --data " + path("wide.csv"));
  EXPECT_EQ(wide.status, 2) << wide.out;
  EXPECT_NE(wide.out.find("wide.csv has 3 features; the model expects 2"), std::string::npos)
      << wide.out;
  // A named model on data without a header: by position.
  ASSERT_EQ(
      run("train --data " + path("header.csv") + " --epochs 1 --save " + path("h.safetensors"))
          .status,
      0);
  EXPECT_EQ(run("eval --model " + path("h.safetensors") + " --data " + path("plain.csv")).status,
            0);
  // Model files written before names came only from headers hold x0, x1, ... for unnamed
  // columns: they go by position too.
  ASSERT_EQ(run("train --data iris --epochs 1 --save " + path("i.safetensors")).status, 0);
  auto file = tapegrad::io::load_safetensors(path("i.safetensors"));
  file.metadata["features"] = "x0\nx1\nx2\nx3";
  tapegrad::io::save_safetensors(path("old.safetensors"), file.tensors, file.metadata);
  EXPECT_EQ(run("eval --model " + path("old.safetensors") + " --data iris").status, 0);
  EXPECT_EQ(run("eval --model " + path("old.safetensors") + " --data " + path("plain.csv")).status,
            2);
}

// What an MPI launcher sets in the environment is checked like an option.
TEST(CliLaunch, AMalformedRankCountFromTheLauncherIsBadInput) {
  const Outcome r = run_with_env("OMPI_COMM_WORLD_SIZE=two", "train --data iris --epochs 1");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("OMPI_COMM_WORLD_SIZE='two'"), std::string::npos) << r.out;
  const Outcome rank = run_with_env("PMI_SIZE=2 PMI_RANK=2", "train --data iris --epochs 1");
  EXPECT_EQ(rank.status, 2) << rank.out;
  EXPECT_NE(rank.out.find("PMI_RANK='2'"), std::string::npos) << rank.out;
}

#if !TAPEGRAD_TOOL_HAS_MPI
// Started as several ranks, a tool without MPI says so instead of training alone N times over.
TEST(CliLaunch, SeveralRanksWithoutMpiIsBadInputNamingTheFix) {
  const Outcome r =
      run_with_env("OMPI_COMM_WORLD_SIZE=2 OMPI_COMM_WORLD_RANK=0", "train --data iris --epochs 1");
  EXPECT_EQ(r.status, 2) << r.out;
  EXPECT_NE(r.out.find("built without MPI"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("TAPEGRAD_WITH_MPI=ON"), std::string::npos) << r.out;
}
#endif

}  // namespace
