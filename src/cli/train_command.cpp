// SPDX-License-Identifier: Apache-2.0
// `tapegrad train`, `eval` and `predict`: MLPs on CSV files or the bundled data sets.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <filesystem>
#include <map>
#include <set>
#include <span>
#include <string_view>
#include <unordered_set>

#include <fmt/format.h>
#include <tapegrad/tapegrad.hpp>

#include "cli/commands.hpp"
#include "cli/model_file.hpp"
#include "cli/progress.hpp"
#include "data/shown.hpp"
#include "io/atomic_file.hpp"

namespace tapegrad::cli {

namespace {

bool is_bundled(const std::string& source) {
  const auto names = data::dataset_names();
  return std::find(names.begin(), names.end(), source) != names.end();
}

// Whether `source` names a bundled data set; --target applies to CSV files only.
bool is_bundled(const std::string& source, const std::string& target) {
  if (!is_bundled(source)) return false;
  if (!target.empty()) {
    throw std::invalid_argument(
        fmt::format("--target applies to CSV files; '{}' is a bundled data set", source));
  }
  return true;
}

// --target as CSV options: an index when it is an integer, else a name; empty: the default.
data::CsvOptions target_option(const std::string& target) {
  data::CsvOptions options;
  if (!target.empty()) {
    std::int64_t index = 0;
    const auto [end, ec] = std::from_chars(target.data(), target.data() + target.size(), index);
    if (ec == std::errc() && end == target.data() + target.size()) {
      options.target = index;
    } else {
      options.target = target;
    }
  }
  return options;
}

data::Dataset load_data(const std::string& source, const std::string& target) {
  if (is_bundled(source, target)) return data::load_dataset(source);
  return data::read_csv(source, target_option(target));
}

// Where a path leads: a symlink followed to the file it names (or would create).
std::filesystem::path destination(const std::string& path) {
  std::error_code error;
  try {
    const io::OutputTarget target = io::resolve_output(path);
    const std::filesystem::path directory =
        std::filesystem::weakly_canonical(target.directory, error);
    if (!error) return directory / target.name;
  } catch (const Error&) {
  }
  const std::filesystem::path canonical = std::filesystem::weakly_canonical(path, error);
  return error ? std::filesystem::absolute(path).lexically_normal() : canonical;
}

// Whether writing `a` would replace `b`: the same file when both exist (hard and symbolic links
// included), else the same path once links and `..` are resolved.
bool same_file(const std::string& a, const std::string& b) {
  std::error_code error;
  if (std::filesystem::exists(a, error) && std::filesystem::exists(b, error)) {
    return std::filesystem::equivalent(a, b, error) && !error;
  }
  return destination(a) == destination(b);
}

// An output must not be one of the command's inputs, nor another of its outputs.
void refuse_same_file(const char* output_option, const std::string& output,
                      const char* other_option, const std::string& other) {
  if (output.empty() || other.empty() || !same_file(output, other)) return;
  throw std::invalid_argument(fmt::format(
      "{} {} and {} {} are the same file: the output would overwrite it; give {} another name",
      output_option, output, other_option, other, output_option));
}

// Refuses an output that cannot be written (a directory, a device, a missing or read-only
// directory) before any work is done, by creating and removing a temporary beside it.
void check_output(const char* option, const std::string& path) {
  if (path.empty()) return;
  try {
    io::check_output_writable(path);
  } catch (const ValueError& e) {
    throw std::invalid_argument(fmt::format("{}: {}", option, e.what()));
  }
}

Task infer_task(const data::Dataset& d, const std::string& requested) {
  if (requested == "classify") return Task::classify;
  if (requested == "regress") return Task::regress;
  if (!requested.empty()) {
    throw std::invalid_argument(
        fmt::format("--task must be classify or regress; got '{}'", requested));
  }
  if (!d.class_names.empty()) return Task::classify;
  // Few distinct non-negative integers: class labels; anything else: a quantity.
  std::set<double> distinct;
  for (double t : d.targets.to_vector()) {
    if (t < 0 || t != std::floor(t)) return Task::regress;
    distinct.insert(t);
  }
  return distinct.size() <= 20 ? Task::classify : Task::regress;
}

Tensor standardized(const Tensor& x, const ModelSpec& spec) {
  return data::Standardizer::from(spec.mean, spec.scale).transform(x);
}

// Class scores (N, C) or standardised predictions (N, 1) as f32 for x in its raw units.
Tensor model_output(const nn::Module& model, const ModelSpec& spec, const Tensor& raw) {
  return nn::predict(model, cast(standardized(raw, spec), DType::f32));
}

struct Scores {
  double metric = 0;  // accuracy, or R²
  std::vector<std::int64_t> predicted;
  std::vector<double> values;
};

Scores score(const nn::Module& model, const ModelSpec& spec, const data::Dataset& d) {
  const Tensor out = model_output(model, spec, d.features);
  Scores s;
  if (spec.task == Task::classify) {
    s.predicted = metrics::argmax_rows(out);
    s.metric = metrics::accuracy(s.predicted, d.labels());
  } else {
    for (double v : out.to_vector()) s.values.push_back(v * spec.y_scale + spec.y_mean);
    s.metric = metrics::r2_score(s.values, d.targets.to_vector());
  }
  return s;
}

const char* metric_name(Task task) {
  return task == Task::classify ? "accuracy" : "R2";
}

constexpr const char* kCheckpointFile = "checkpoint.safetensors";
constexpr const char* kMetricsKey = "train.metrics";

// FNV-1a over the training rows as they are fed to the model: a resumed run must see the same.
std::string fingerprint(const Tensor& x, const Tensor& y) {
  std::uint64_t h = 0xcbf29ce484222325;
  const auto mix = [&](std::span<const float> values) {
    for (const std::byte b : std::as_bytes(values)) {
      h = (h ^ static_cast<std::uint64_t>(b)) * 0x100000001b3;
    }
  };
  mix(x.data<float>());
  mix(y.data<float>());
  return fmt::format("{} {} {:016x}", x.shape().str(), y.shape().str(), h);
}

// What a run's result depends on besides --epochs, as stored in its checkpoints: a resumed run
// must have the same.
struct Setting {
  std::string option;  // as the user writes it
  std::string key;     // in the checkpoint's metadata
  std::string value;
};

std::vector<Setting> settings_of(const TrainArgs& args, const ModelSpec& spec,
                                 const std::string& loss, double lr, nn::Regime regime,
                                 const std::string& rows) {
  const std::string batch = regime == nn::Regime::online       ? "online"
                            : regime == nn::Regime::full_batch ? "full batch"
                                                               : std::to_string(args.batch);
  return {
      {"--data (the training rows)", "train.rows", rows},
      {"--task", "train.task", spec.task == Task::classify ? "classify" : "regress"},
      {"--layers", "train.layers", fmt::format("{}", fmt::join(args.layers, ","))},
      {"--activation", "train.activation", spec.activation.spec()},
      {"--loss", "train.loss", loss},
      {"--optimizer", "train.optimizer", args.optimizer},
      {"--lr", "train.lr", fmt::format("{}", lr)},
      {"--batch/--online/--full-batch", "train.batch", batch},
      {"--seed", "train.seed", std::to_string(args.seed)},
      {"--test-split", "train.test_split", fmt::format("{}", args.test_split)},
  };
}

// Refuses to resume with settings other than the checkpoint's, naming the first that differs.
void check_same_settings(const std::map<std::string, std::string>& stored,
                         const std::vector<Setting>& settings, const std::string& dir) {
  for (const Setting& s : settings) {
    const auto it = stored.find(s.key);
    if (it == stored.end()) {
      throw std::invalid_argument(fmt::format(
          "--resume {}: the checkpoint was not written by `tapegrad train` (no '{}')", dir, s.key));
    }
    if (it->second != s.value) {
      throw std::invalid_argument(fmt::format(
          "--resume {}: the checkpoint's run has {} {}, this one {}; resume with the same options "
          "(only --epochs may change)",
          dir, s.option, it->second, s.value));
    }
  }
}

}  // namespace

namespace {

// The options that can be checked without the data, before anything is read or trained.
void check_options(const TrainArgs& args) {
  if (!(args.test_split >= 0 && args.test_split < 1)) {
    throw std::invalid_argument(
        fmt::format("--test-split must be in [0, 1); got {}", args.test_split));
  }
  if (args.lr && !(std::isfinite(*args.lr) && *args.lr > 0)) {
    throw std::invalid_argument(
        fmt::format("--lr must be a positive finite number; got {}", *args.lr));
  }
  for (const std::int64_t width : args.layers) {
    if (width < 1 || width > kMaxWidth) {
      throw std::invalid_argument(fmt::format(
          "--layers: a hidden layer of {} units; widths must be 1 to {}", width, kMaxWidth));
    }
  }
  (void)nn::Activation::parse(args.activation);
}

}  // namespace

int run_train(const TrainArgs& args, nn::Communicator* group) {
  return reporting_bad_input([&] {
    check_options(args);
    const bool shared = group != nullptr && group->size() > 1;
    const bool leader = !shared || group->rank() == 0;  // prints and writes the files
    if (shared && args.online) {
      throw std::invalid_argument(fmt::format(
          "--online updates after every example, which leaves nothing to share between the {} "
          "ranks; train data-parallel with --batch or --full-batch",
          group->size()));
    }
    // The outputs are checked before the data is read or a single epoch runs.
    const std::string data_file = is_bundled(args.data) ? std::string() : args.data;
    refuse_same_file("--save", args.save, "--data", data_file);
    refuse_same_file("--metrics", args.metrics, "--data", data_file);
    refuse_same_file("--metrics", args.metrics, "--save", args.save);
    if (leader) {
      check_output("--save", args.save);
      check_output("--metrics", args.metrics);
    }
    const data::Dataset all = load_data(args.data, args.target);
    ModelSpec spec;
    spec.task = infer_task(all, args.task);
    // Named members rather than a structured binding: the epoch callback captures them.
    const auto split =
        data::train_test_split(all, args.test_split, args.seed, spec.task == Task::classify);
    const data::Dataset& train = split.first;
    const data::Dataset& test = split.second;
    if (train.size() == 0) {
      throw std::invalid_argument(fmt::format(
          "--test-split {} leaves none of the {} rows for training", args.test_split, all.size()));
    }
    data::Standardizer standardizer;
    standardizer.fit(train.features);
    spec.mean = standardizer.mean();
    spec.scale = standardizer.scale();
    spec.class_names = all.class_names;
    spec.feature_names = all.feature_names;
    spec.target = all.target_name;
    if (!args.save.empty()) check_savable(spec);  // the names, before any training
    const std::int64_t outputs = spec.task == Task::classify ? all.num_classes() : 1;
    spec.sizes.push_back(all.num_features());
    for (std::int64_t h : args.layers) spec.sizes.push_back(h);
    spec.sizes.push_back(outputs);
    (void)checked_parameter_count(spec.sizes,
                                  fmt::format("--layers {}", fmt::join(args.layers, ",")));
    spec.activation = nn::Activation::parse(args.activation);
    Tensor y = train.targets;
    if (spec.task == Task::regress) {
      // Regression targets are standardised too: the loss then has a sensible scale.
      data::Standardizer ys;
      ys.fit(reshape(y, {-1, 1}));
      spec.y_mean = ys.mean()[0];
      spec.y_scale = ys.scale()[0];
      y = reshape((y - spec.y_mean) * (1.0 / spec.y_scale), {-1, 1});
    }
    const nn::Sequential model = build_model(spec, args.seed);
    const std::string loss_name = !args.loss.empty()            ? args.loss
                                  : spec.task == Task::classify ? "cross_entropy"
                                                                : "mse";
    if (spec.task == Task::classify && loss_name != "cross_entropy") {
      throw std::invalid_argument(fmt::format(
          "--loss {}: classification trains with cross_entropy (use --task regress for {})",
          loss_name, loss_name));
    }
    if (spec.task == Task::regress && loss_name == "cross_entropy") {
      throw std::invalid_argument("--loss cross_entropy needs class labels; this is a regression");
    }
    const nn::LossFunction loss = nn::loss_by_name(loss_name);
    std::unique_ptr<optim::Optimizer> optimizer;
    if (args.optimizer == "adam") {
      optimizer = std::make_unique<optim::Adam>(model.parameters(),
                                                optim::AdamOptions{.lr = args.lr.value_or(1e-3)});
    } else if (args.optimizer == "sgd" || args.optimizer == "momentum") {
      optimizer = std::make_unique<optim::SGD>(
          model.parameters(),
          optim::SgdOptions{.lr = args.lr.value_or(0.05),
                            .momentum = args.optimizer == "momentum" ? 0.9 : 0.0});
    } else {
      throw std::invalid_argument(
          fmt::format("--optimizer must be sgd, momentum or adam; got '{}'", args.optimizer));
    }
    const nn::Regime regime = args.online       ? nn::Regime::online
                              : args.full_batch ? nn::Regime::full_batch
                                                : nn::Regime::mini_batch;
    const Tensor x_train = cast(standardizer.transform(train.features), DType::f32);
    const Tensor y_train = cast(y, DType::f32);
    std::string metrics_csv =
        fmt::format("epoch,loss,train_{0},test_{0},seconds\n", metric_name(spec.task));

    // Checkpoints: a fresh run never overwrites one (it might be the only copy of a long run);
    // a resumed one must have the settings the checkpoint was trained with.
    const std::vector<Setting> settings = settings_of(
        args, spec, loss_name, optimizer->learning_rate(), regime, fingerprint(x_train, y_train));
    const std::string checkpoint_dir = args.checkpoint.empty() ? args.resume : args.checkpoint;
    const std::filesystem::path checkpoint =
        checkpoint_dir.empty() ? std::filesystem::path()
                               : std::filesystem::path(checkpoint_dir) / kCheckpointFile;
    int epochs_done = 0;
    std::string resumed_note;
    if (!args.resume.empty()) {
      const std::filesystem::path from = std::filesystem::path(args.resume) / kCheckpointFile;
      if (!std::filesystem::exists(from)) {
        throw std::invalid_argument(fmt::format(
            "--resume {}: no checkpoint there ({} does not exist)", args.resume, from.string()));
      }
      check_same_settings(io::load_safetensors(from).metadata, settings, args.resume);
      nn::Checkpoint resumed = nn::load_checkpoint(from, model, *optimizer);
      check_same_settings(resumed.metadata, settings, args.resume);
      epochs_done = resumed.epochs_done;
      metrics_csv = resumed.metadata[kMetricsKey];
      resumed_note = fmt::format("resumed from {} after epoch {}\n", from.string(), epochs_done);
    } else if (!checkpoint.empty() && leader) {
      if (std::filesystem::exists(checkpoint)) {
        throw std::invalid_argument(
            fmt::format("--checkpoint {}: {} already holds a checkpoint; continue it with "
                        "--resume {}, or choose another directory",
                        checkpoint_dir, checkpoint.string(), checkpoint_dir));
      }
      std::error_code error;
      std::filesystem::create_directories(checkpoint_dir, error);
      if (error) {
        throw std::invalid_argument(fmt::format("--checkpoint {}: cannot create the directory ({})",
                                                checkpoint_dir, error.message()));
      }
    }
    if (!checkpoint.empty() && leader) check_output("--checkpoint", checkpoint.string());

    fmt::print("data: {} ({} rows, {} features{}), {} train / {} test rows\n", args.data,
               all.size(), all.num_features(),
               spec.task == Task::classify ? fmt::format(", {} classes", outputs) : ", regression",
               train.size(), test.size());
    fmt::print("model: {}\n", model.describe());
    if (shared) {
      fmt::print(
          "data-parallel on {} ranks: each takes its share of every batch{}\n", group->size(),
          regime == nn::Regime::mini_batch
              ? fmt::format(" (about {} rows)", (args.batch + group->size() - 1) / group->size())
              : "");
    }
    fmt::print("training: {} epochs, {}, {} (lr {:g}), loss {}\n\n", args.epochs,
               regime == nn::Regime::online       ? "online"
               : regime == nn::Regime::full_batch ? "full batch"
                                                  : fmt::format("batches of {}", args.batch),
               args.optimizer, optimizer->learning_rate(), loss_name);
    fmt::print("{}", resumed_note);
    ProgressBar bar(!shared);
    if (epochs_done < args.epochs)
      bar.start(fmt::format("epoch {:>3}/{}", epochs_done + 1, args.epochs));
    // A loss that is not finite ends the training at that epoch: nothing after it can recover,
    // and a model of NaNs must not be saved as if it were one.
    int diverged_at = 0;
    double diverged_loss = 0;
    struct Diverged {};
    try {
      const auto history = nn::train(
          model, *optimizer, loss, x_train, y_train,
          {.regime = regime,
           .batch_size = args.batch,
           .epochs = args.epochs,
           .seed = args.seed,
           .on_epoch =
               [&](const nn::EpochStats& e) {
                 if (leader) {  // the loss is the whole batch's on every rank
                   bar.finish();
                   const double train_metric = score(model, spec, train).metric;
                   const double test_metric =
                       test.size() > 0 ? score(model, spec, test).metric : NAN;
                   fmt::print(
                       "epoch {:>3}/{}  loss {:.4f}  train {} {:.4f}  test {} {:.4f}  ({:.1f} "
                       "ms)\n",
                       e.epoch, args.epochs, e.loss, metric_name(spec.task), train_metric,
                       metric_name(spec.task), test_metric, e.seconds * 1e3);
                   metrics_csv += fmt::format("{},{:.6g},{:.6g},{:.6g},{:.4f}\n", e.epoch, e.loss,
                                              train_metric, test_metric, e.seconds);
                 }
                 if (!std::isfinite(e.loss)) {  // on every rank alike
                   diverged_at = e.epoch;
                   diverged_loss = e.loss;
                   throw Diverged{};
                 }
                 bar.start(fmt::format("epoch {:>3}/{}", e.epoch + 1, args.epochs));
               },
           .on_step = [&](std::int64_t done, std::int64_t total) { bar.update(done, total); },
           .epochs_done = epochs_done,
           .checkpoint = checkpoint,
           .checkpoint_every = args.checkpoint_every,
           .checkpoint_metadata =
               [&] {
                 std::map<std::string, std::string> meta{{kMetricsKey, metrics_csv}};
                 for (const Setting& s : settings) meta.emplace(s.key, s.value);
                 return meta;
               },
           .group = group});
      (void)history;
    } catch (const Diverged&) {
      if (leader) {
        if (!args.metrics.empty()) io::write_file_atomically(args.metrics, metrics_csv);
        fmt::print(stderr,
                   "error: training diverged at epoch {} (loss {}); no model was saved — try a "
                   "smaller --lr\n",
                   diverged_at, diverged_loss);
      }
      if (shared) {  // every rank diverged with it: wait until rank 0 has said so
        double none = 0;
        group->sum(std::span<double>(&none, 1));
      }
      return kFailure;
    }
    if (!leader) return kOk;
    bar.finish();
    if (test.size() > 0) {
      const Scores s = score(model, spec, test);
      fmt::print("\ntest {}: {:.4f}\n", metric_name(spec.task), s.metric);
      if (spec.task == Task::classify) {
        metrics::ConfusionMatrix cm(outputs);
        cm.add(s.predicted, test.labels());
        fmt::print("confusion matrix (rows: true class, columns: predicted)\n{}\n", cm);
      }
    }
    if (!args.save.empty()) {
      save_model(args.save, spec, model);
      fmt::print("saved the model to {}\n", args.save);
    }
    if (!args.metrics.empty()) io::write_file_atomically(args.metrics, metrics_csv);
    return kOk;
  });
}

namespace {

// A saved model and data to use it on, checked against each other.
struct ModelAndData {
  ModelSpec spec;
  nn::Sequential model;
  data::Dataset data;
};

// The model's feature names, or none when it was trained on columns without names. Model files
// written before names came only from a header hold x0, x1, ... for unnamed columns.
std::vector<std::string> names_of_features(const ModelSpec& spec) {
  for (std::size_t i = 0; i < spec.feature_names.size(); ++i) {
    if (spec.feature_names[i] != fmt::format("x{}", i)) return spec.feature_names;
  }
  return {};
}

// 'a', 'b', 'c': the first ten, then how many more.

// Refuses data without every feature the model takes, naming the missing ones.
void require_features(const std::vector<std::string>& available,
                      const std::vector<std::string>& needed, const std::string& source) {
  const std::unordered_set<std::string_view> have(available.begin(), available.end());
  std::vector<std::string> missing;
  for (const std::string& name : needed) {
    if (!have.contains(name)) missing.push_back(name);
  }
  if (missing.empty()) return;
  throw ValueError(
      fmt::format("{} has no column {}, which the model takes (its features: {}; other columns are "
                  "ignored)",
                  source, data::quoted_list(missing), data::quoted_list(needed)));
}

// The model's columns of the data. With names on both sides the features are found by name, in
// the model's order, and the target is the model's target column (or --target); other columns
// are ignored. Otherwise columns go by position: all but the target (the last, or --target),
// or all of them when that is exactly the model's input.
data::Dataset columns_for(const ModelSpec& spec, const std::string& source,
                          const std::string& target) {
  const std::vector<std::string> names = names_of_features(spec);
  if (is_bundled(source, target)) {
    data::Dataset d = data::load_dataset(source);
    if (names.empty()) return d;
    require_features(d.feature_names, names, source);
    return data::select_features(d, names);
  }
  data::CsvOptions options = target_option(target);
  const std::vector<std::string> header =
      names.empty() ? std::vector<std::string>{} : data::read_csv_header(source);
  if (!header.empty()) {
    require_features(header, names, source);
    options.features = names;
    const auto has = [](const std::vector<std::string>& v, const std::string& name) {
      return std::find(v.begin(), v.end(), name) != v.end();
    };
    if (target.empty() && !spec.target.empty()) {
      // The model's target; data to predict on may lack it.
      options.target = has(header, spec.target) ? data::CsvOptions::Target(spec.target)
                                                : data::CsvOptions::NoTarget{};
    } else if (target.empty() && has(names, header.back())) {
      options.target = data::CsvOptions::NoTarget{};
    }  // else --target, or a model file without its target's name: the last column, as before
    return data::read_csv(source, options);
  }
  data::Dataset d = data::read_csv(source, options);
  if (d.num_features() + 1 == spec.sizes.front() && target.empty()) {
    d = data::read_csv(source, {.target = data::CsvOptions::NoTarget{}});
  }
  return d;
}

ModelAndData load_for_use(const std::string& model_file, const std::string& source,
                          const std::string& target) {
  auto [spec, model] = load_model(model_file);
  data::Dataset d = columns_for(spec, source, target);
  const std::int64_t expected = spec.sizes.front();
  if (d.num_features() != expected) {
    throw ValueError(fmt::format("{} has {} features; the model expects {}", source,
                                 d.num_features(), expected));
  }
  return {std::move(spec), std::move(model), std::move(d)};
}

}  // namespace

int run_eval(const EvalArgs& args) {
  return reporting_bad_input([&] {
    const auto [spec, model, d] = load_for_use(args.model, args.data, args.target);
    if (d.targets.numel() == 0) {
      throw ValueError(fmt::format(
          "{} has no target column to evaluate against{}", args.data,
          spec.target.empty() ? ""
                              : fmt::format(" (no column '{}', the model's target; name one "
                                            "with --target)",
                                            spec.target)));
    }
    const Scores s = score(model, spec, d);
    fmt::print("{} on {} ({} rows): {:.4f}\n", metric_name(spec.task), args.data, d.size(),
               s.metric);
    if (spec.task == Task::classify) {
      metrics::ConfusionMatrix cm(spec.sizes.back());
      cm.add(s.predicted, d.labels());
      fmt::print("confusion matrix (rows: true class, columns: predicted)\n{}\n", cm);
    }
    return kOk;
  });
}

int run_predict(const PredictArgs& args) {
  return reporting_bad_input([&] {
    refuse_same_file("-o", args.output, "--data", is_bundled(args.data) ? "" : args.data);
    refuse_same_file("-o", args.output, "--model", args.model);
    check_output("-o", args.output);
    const auto [spec, model, d] = load_for_use(args.model, args.data, args.target);
    const Tensor out = model_output(model, spec, d.features);
    std::string csv;
    if (spec.task == Task::classify) {
      const Tensor p = softmax(cast(out, DType::f64));
      const std::int64_t classes = spec.sizes.back();
      std::vector<std::string> header{"row", "class"};
      for (std::int64_t c = 0; c < classes; ++c) {
        const auto k = static_cast<std::size_t>(c);
        header.push_back("p_" +
                         (k < spec.class_names.size() ? spec.class_names[k] : std::to_string(c)));
      }
      csv = fmt::format("{}\n", fmt::join(header, ","));
      const auto predicted = metrics::argmax_rows(out);
      for (std::int64_t i = 0; i < d.size(); ++i) {
        csv += fmt::format("{},{}", i, predicted[static_cast<std::size_t>(i)]);
        for (std::int64_t c = 0; c < classes; ++c) csv += fmt::format(",{:.6g}", p.get(i, c));
        csv += '\n';
      }
    } else {
      csv = "row,prediction\n";
      const auto v = out.to_vector();
      for (std::size_t i = 0; i < v.size(); ++i) {
        csv += fmt::format("{},{:.8g}\n", i, v[i] * spec.y_scale + spec.y_mean);
      }
    }
    if (args.output.empty()) {
      fmt::print("{}", csv);
    } else {
      io::write_file_atomically(args.output, csv);
    }
    return kOk;
  });
}

}  // namespace tapegrad::cli
