// SPDX-License-Identifier: Apache-2.0
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

#include "support/errors.hpp"
#include "support/output_files.hpp"

namespace tg = tapegrad;
namespace io = tapegrad::io;
using tg::Tensor;

namespace {

class TempDir {
 public:
  TempDir()
      : path_(std::filesystem::temp_directory_path() /
              (std::string("tapegrad_st_") +
               ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::filesystem::path operator/(const char* name) const { return path_ / name; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  const std::filesystem::path& path() const { return path_; }
  std::size_t entries() const {
    return static_cast<std::size_t>(std::distance(std::filesystem::directory_iterator(path_), {}));
  }

 private:
  std::filesystem::path path_;
};

std::string bytes_of(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

void write_bytes(const std::filesystem::path& p, const std::string& b) {
  std::ofstream(p, std::ios::binary) << b;
}

std::string error_loading(const std::filesystem::path& p) {
  try {
    (void)io::load_safetensors(p);
  } catch (const tg::ValueError& e) {
    return e.what();
  }
  return "(no error)";
}

// A file built byte by byte as the format describes: header length, JSON header, data.
std::string spec_file(const std::string& header, const std::string& data) {
  std::string file(8, '\0');
  const std::uint64_t n = header.size();
  std::memcpy(file.data(), &n, 8);
  return file + header + data;
}

std::string error_parsing(const std::string& bytes) {
  try {
    (void)io::parse_safetensors(bytes, "f.safetensors");
  } catch (const tg::ValueError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Safetensors, RoundTripKeepsNamesShapesDtypesValuesAndMetadata) {
  TempDir dir;
  const std::vector<tg::NamedTensor> tensors = {
      {"w", tg::randn({3, 4}, 1, tg::DType::f32)},
      {"b", Tensor::from({1.5, -2.0})},
      {"scalar", tg::full({}, 7.0)},
      {"empty", tg::zeros({0, 3})},
  };
  io::save_safetensors(dir / "m.safetensors", tensors, {{"note", "quote \" and\nnewline"}});
  EXPECT_EQ(dir.entries(), 1u);  // no temporary file left
  const io::SafetensorsFile f = io::load_safetensors(dir / "m.safetensors");
  ASSERT_EQ(f.tensors.size(), 4u);
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(f.tensors[i].name, tensors[i].name);
    EXPECT_EQ(f.tensors[i].tensor.shape(), tensors[i].tensor.shape());
    EXPECT_EQ(f.tensors[i].tensor.dtype(), tensors[i].tensor.dtype());
    EXPECT_EQ(f.tensors[i].tensor.to_vector(), tensors[i].tensor.to_vector());
  }
  EXPECT_EQ(f.metadata.at("note"), "quote \" and\nnewline");
}

TEST(Safetensors, ReadsAFileWrittenByTheSpecification) {
  // Built byte by byte as the format describes: header length, JSON, little-endian data.
  const std::string header =
      R"({"a":{"dtype":"F64","shape":[2],"data_offsets":[0,16]},"__metadata__":{"k":"v"}})";
  std::string file(8, '\0');
  const std::uint64_t n = header.size();
  std::memcpy(file.data(), &n, 8);
  file += header;
  const double values[] = {0.25, -3.0};
  file.append(reinterpret_cast<const char*>(values), sizeof values);
  TempDir dir;
  write_bytes(dir / "spec.safetensors", file);
  const io::SafetensorsFile f = io::load_safetensors(dir / "spec.safetensors");
  EXPECT_EQ(f.tensors.at(0).tensor.to_vector(), (std::vector<double>{0.25, -3.0}));
  EXPECT_EQ(f.metadata.at("k"), "v");
}

TEST(Safetensors, TruncatedAndCorruptFilesGiveClearErrors) {
  TempDir dir;
  io::save_safetensors(dir / "m.safetensors", std::vector<tg::NamedTensor>{{"w", tg::ones({100})}});
  const std::string good = bytes_of(dir / "m.safetensors");
  write_bytes(dir / "short.safetensors", good.substr(0, good.size() - 10));
  EXPECT_NE(error_loading(dir / "short.safetensors").find("truncated or corrupt: tensor 'w'"),
            std::string::npos);
  write_bytes(dir / "tiny.safetensors", good.substr(0, 5));
  EXPECT_NE(error_loading(dir / "tiny.safetensors").find("truncated"), std::string::npos);
  std::string huge = good;
  huge[7] = '\x7f';  // header length far beyond the file
  write_bytes(dir / "huge.safetensors", huge);
  EXPECT_NE(error_loading(dir / "huge.safetensors").find("not a safetensors file or truncated"),
            std::string::npos);
  std::string json = good;
  json[8] = '[';  // the header must be an object
  write_bytes(dir / "json.safetensors", json);
  EXPECT_NE(error_loading(dir / "json.safetensors").find("bad safetensors header"),
            std::string::npos);
  std::string dtype = good;
  dtype.replace(dtype.find("F64"), 3, "I64");
  write_bytes(dir / "dtype.safetensors", dtype);
  EXPECT_NE(error_loading(dir / "dtype.safetensors").find("dtype I64"), std::string::npos);
  EXPECT_NE(error_loading(dir / "missing.safetensors").find("cannot open"), std::string::npos);
}

TEST(Safetensors, DataBytesThatBelongToNoTensorAreCorruption) {
  const std::string eight(8, '\0');
  const std::string one = R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})";
  EXPECT_EQ(error_parsing(spec_file(one, eight)), "(no error)");
  EXPECT_NE(error_parsing(spec_file(one, eight + "xx")).find("cover only 8 (trailing bytes)"),
            std::string::npos);
  const std::string gap = R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}})";
  EXPECT_NE(error_parsing(spec_file(gap, eight + eight))
                .find("bytes [0, 8) of the data section belong to no tensor (before 'a')"),
            std::string::npos);
}

TEST(Safetensors, RepeatedHeaderFieldsAreRejected) {
  const std::string eight(8, '\0');
  EXPECT_NE(error_parsing(
                spec_file(R"({"a":{"dtype":"F64","dtype":"F32","shape":[1],"data_offsets":[0,8]}})",
                          eight))
                .find("tensor 'a' has the field 'dtype' twice"),
            std::string::npos);
  EXPECT_NE(error_parsing(spec_file(R"({"__metadata__":{"k":"1","k":"2"}})", ""))
                .find("metadata key 'k' appears twice"),
            std::string::npos);
  EXPECT_NE(error_parsing(spec_file(R"({"__metadata__":{},"__metadata__":{}})", ""))
                .find("__metadata__ appears twice"),
            std::string::npos);
  EXPECT_NE(error_parsing(spec_file(R"({"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},)"
                                    R"("a":{"dtype":"F64","shape":[1],"data_offsets":[8,16]}})",
                                    eight + eight))
                .find("tensor 'a' appears twice"),
            std::string::npos);
}

TEST(Safetensors, SaveOntoADirectoryIsAClearErrorAndLeavesNoTemporaryFile) {
  TempDir dir;
  std::filesystem::create_directories(dir / "m.safetensors" / "inside");
  try {
    io::save_safetensors(dir / "m.safetensors", std::vector<tg::NamedTensor>{{"w", tg::ones({2})}});
    FAIL() << "saving onto a non-empty directory must throw";
  } catch (const tg::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("m.safetensors is a directory"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(dir.entries(), 1u);  // the directory only: the temporary file was removed
}

// ---- how a model file is written (issue 14, "Writing outputs") -------------------------------
const std::vector<tg::NamedTensor> kModel = {{"w", Tensor::from({1.0, 2.0, 3.0})}};

// The temporary used to be `<path>.tmp<pid>`, opened without O_EXCL|O_NOFOLLOW: a link planted
// there was followed and the file it named overwritten (then the link was renamed into place).
TEST(Safetensors, SaveNeverWritesThroughALinkPlantedAtAPredictableTemporaryName) {
  TempDir dir;
  write_bytes(dir / "victim", "precious");
  const std::string model = (dir / "m.safetensors").string();
  for (const std::string& planted : {fmt::format("{}.tmp{}", model, ::getpid()), model + ".tmp"}) {
    std::filesystem::create_symlink(dir / "victim", planted);
  }
  io::save_safetensors(model, kModel);
  EXPECT_EQ(bytes_of(dir / "victim"), "precious");
  EXPECT_FALSE(std::filesystem::is_symlink(model));
  EXPECT_EQ(io::load_safetensors(model).tensors.at(0).tensor.to_vector(),
            (std::vector<double>{1, 2, 3}));
  EXPECT_TRUE(tg::testing::partial_files(dir.path()).empty());
}

TEST(Safetensors, SaveThroughASymlinkReplacesItsTargetAndKeepsTheLink) {
  TempDir dir;
  std::filesystem::create_directories(dir / "models");
  write_bytes(dir / "models" / "real.safetensors", "old");
  std::filesystem::create_symlink("models/real.safetensors", dir / "latest");  // relative
  std::filesystem::create_symlink(dir / "latest", dir / "chain");              // a link to a link
  io::save_safetensors(dir / "chain", kModel);
  EXPECT_TRUE(std::filesystem::is_symlink(dir / "chain"));
  EXPECT_TRUE(std::filesystem::is_symlink(dir / "latest"));
  EXPECT_EQ(std::filesystem::read_symlink(dir / "latest"), "models/real.safetensors");
  EXPECT_EQ(io::load_safetensors(dir / "models" / "real.safetensors").tensors.size(), 1u);
  EXPECT_TRUE(tg::testing::partial_files(dir.path()).empty());
  EXPECT_TRUE(tg::testing::partial_files(dir / "models").empty());
  // A dangling link is written through too: its target is created.
  std::filesystem::create_symlink("models/new.safetensors", dir / "next");
  io::save_safetensors(dir / "next", kModel);
  EXPECT_TRUE(std::filesystem::is_symlink(dir / "next"));
  EXPECT_TRUE(std::filesystem::is_regular_file(dir / "models" / "new.safetensors"));
}

TEST(Safetensors, SaveKeepsThePermissionsOfTheFileItReplaces) {
  TempDir dir;
  const auto model = dir / "m.safetensors";
  const auto mode_of = [&] {
    struct stat st {};
    EXPECT_EQ(::stat(model.c_str(), &st), 0);
    return st.st_mode & 07777;
  };
  const mode_t umask_before = ::umask(0002);
  io::save_safetensors(model, kModel);
  EXPECT_EQ(mode_of(), 0664u);  // a new file: 0666 less the umask
  for (const mode_t mode : {0600u, 0640u, 0444u}) {
    SCOPED_TRACE(mode);
    ASSERT_EQ(::chmod(model.c_str(), mode), 0);
    io::save_safetensors(model, kModel);
    EXPECT_EQ(mode_of(), mode);
  }
  ::umask(umask_before);
}

// A model read from a FIFO would wait for a writer, from /dev/zero it would never end: both are
// refused before a byte is read, as a directory is.
TEST(Safetensors, LoadReadsRegularFilesOnly) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  const std::vector<std::pair<std::filesystem::path, std::string>> cases = {
      {dir.path(), "is a directory; model is read from regular files only"},
      {dir / "fifo", "is a named pipe (FIFO); model is read from regular files only"},
      {"/dev/zero", "is a character device; model is read from regular files only"}};
  for (const auto& [path, message] : cases) {
    SCOPED_TRACE(path.string());
    const std::string m =
        tg::testing::message_of<tg::ValueError>([&] { (void)io::load_safetensors(path); });
    EXPECT_NE(m.find(path.string() + ": " + message), std::string::npos) << m;
  }
}

TEST(Safetensors, SaveRefusesWhatIsNotARegularFileAndTouchesNothing) {
  TempDir dir;
  std::filesystem::create_directories(dir / "empty_dir");
  ASSERT_EQ(::mkfifo((dir / "fifo").c_str(), 0600), 0);
  struct Case {
    std::filesystem::path path;
    const char* kind;
  };
  std::vector<Case> cases = {{dir / "empty_dir", "is a directory"},
                             {dir / "fifo", "is a named pipe (FIFO)"}};
  const std::filesystem::path device = tg::testing::character_device_for_tests(dir.path());
  if (!device.empty()) cases.push_back({device, "is a character device"});
  std::filesystem::create_symlink(dir / "fifo", dir / "link_to_fifo");
  cases.push_back({dir / "link_to_fifo", "(a link to "});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.path.string());
    const auto before = std::filesystem::symlink_status(c.path).type();
    try {
      io::save_safetensors(c.path, kModel);
      ADD_FAILURE() << "saving onto " << c.path << " must throw";
    } catch (const tg::ValueError& e) {
      EXPECT_NE(std::string(e.what()).find(c.path.string()), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.kind), std::string::npos) << e.what();
    }
    EXPECT_EQ(std::filesystem::symlink_status(c.path).type(), before);
  }
  EXPECT_TRUE(std::filesystem::is_fifo(dir / "fifo"));
  if (!device.empty()) {
    EXPECT_TRUE(std::filesystem::is_character_file(device));
  }
  EXPECT_TRUE(tg::testing::partial_files(dir.path()).empty());
  // A new name is fine; a new name in a directory that does not exist is a clear error.
  const std::string missing = tg::testing::message_of<tg::ValueError>(
      [&] { io::save_safetensors(dir / "no" / "m", kModel); });
  EXPECT_NE(missing.find("the directory " + (dir / "no").string() + " does not exist"),
            std::string::npos)
      << missing;
}

// A process killed with SIGKILL leaves its temporary: the next save of the same target removes
// the temporaries of processes that no longer exist, and only those, and only of that target.
TEST(Safetensors, SaveRemovesStaleTemporariesOfDeadProcesses) {
  TempDir dir;
  const pid_t dead = tg::testing::dead_pid();
  const std::string stale =
      fmt::format(".m.safetensors.tapegrad-partial.{}.0123456789abcdef", dead);
  const std::string alive =
      fmt::format(".m.safetensors.tapegrad-partial.{}.fedcba9876543210", ::getppid());
  const std::string other = fmt::format(".other.tapegrad-partial.{}.0123456789abcdef", dead);
  for (const std::string& name : {stale, alive, other}) write_bytes(dir / name, "partial");
  io::save_safetensors(dir / "m.safetensors", kModel);
  EXPECT_FALSE(std::filesystem::exists(dir / stale));
  EXPECT_TRUE(std::filesystem::exists(dir / alive));  // its writer may still be at work
  EXPECT_TRUE(std::filesystem::exists(dir / other));  // another target's
}

// A write the system refuses (here the file size limit, as a full disk would) is an IoError
// naming the file and the reason; the previous model and nothing else is left.
TEST(Safetensors, AFailedWriteIsAnIoErrorAndLeavesThePreviousFile) {
  TempDir dir;
  const auto model = dir / "m.safetensors";
  io::save_safetensors(model, kModel);
  const std::string before = bytes_of(model);
  const std::vector<tg::NamedTensor> large = {{"w", tg::zeros({100000})}};
  const pid_t child = ::fork();
  if (child == 0) {  // the limit and the ignored SIGXFSZ stay in the child
    const rlimit limit{4096, 4096};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    std::signal(SIGXFSZ, SIG_IGN);
    try {
      io::save_safetensors(model, large);
    } catch (const tg::IoError& e) {
      const std::string what = e.what();
      ::_exit(what.find(model.string()) != std::string::npos &&
                      what.find(std::strerror(EFBIG)) != std::string::npos
                  ? 0
                  : 3);
    } catch (...) {
      ::_exit(2);
    }
    ::_exit(1);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: no error; 2: not an IoError; 3: a vague message";
  EXPECT_EQ(bytes_of(model), before);
  EXPECT_EQ(dir.entries(), 1u);
}

TEST(Safetensors, FailedSaveLeavesThePreviousFile) {
  TempDir dir;
  io::save_safetensors(dir / "m.safetensors", std::vector<tg::NamedTensor>{{"w", tg::ones({2})}});
  const std::string before = bytes_of(dir / "m.safetensors");
  EXPECT_THROW(
      io::save_safetensors(dir / "m.safetensors", std::vector<tg::NamedTensor>{{"w", Tensor()}}),
      tg::ValueError);
  EXPECT_THROW(io::save_safetensors(
                   dir / "m.safetensors",
                   std::vector<tg::NamedTensor>{{"w", tg::ones({1})}, {"w", tg::ones({1})}}),
               tg::ValueError);
  EXPECT_EQ(bytes_of(dir / "m.safetensors"), before);
  EXPECT_EQ(dir.entries(), 1u);
}

TEST(Safetensors, LoadParametersChecksEverythingBeforeChangingAnything) {
  TempDir dir;
  const tg::nn::Sequential saved = tg::nn::mlp({3, 4, 2}, {.seed = 1});
  std::vector<tg::NamedTensor> params = saved.named_parameters();
  io::save_safetensors(dir / "m.safetensors", params);
  const tg::nn::Sequential fresh = tg::nn::mlp({3, 4, 2}, {.seed = 2});
  io::load_parameters(fresh.named_parameters(), dir / "m.safetensors");
  for (std::size_t i = 0; i < params.size(); ++i) {
    EXPECT_EQ(fresh.named_parameters()[i].tensor.to_vector(), params[i].tensor.to_vector());
  }
  const tg::nn::Sequential wider = tg::nn::mlp({3, 5, 2}, {.seed = 3});
  const auto before = wider.named_parameters()[1].tensor.to_vector();
  try {
    io::load_parameters(wider.named_parameters(), dir / "m.safetensors");
    FAIL();
  } catch (const tg::ValueError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'0.weight' is float64 (3, 4) in the file, float64 (3, 5) in the model"),
              std::string::npos)
        << msg;
  }
  EXPECT_EQ(wider.named_parameters()[1].tensor.to_vector(), before);
  const tg::nn::Sequential deeper = tg::nn::mlp({3, 4, 4, 2}, {.seed = 3});
  try {
    io::load_parameters(deeper.named_parameters(), dir / "m.safetensors");
    FAIL();
  } catch (const tg::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("missing '4.weight'"), std::string::npos) << e.what();
  }
  const tg::nn::Sequential f32 = tg::nn::mlp({3, 4, 2}, {.dtype = tg::DType::f32});
  EXPECT_THROW(io::load_parameters(f32.named_parameters(), dir / "m.safetensors"), tg::ValueError);
}

TEST(Safetensors, LoadParametersNamesTensorsTheModelDoesNotHave) {
  TempDir dir;
  const tg::nn::Sequential deeper = tg::nn::mlp({3, 4, 4, 2}, {.seed = 1});
  io::save_safetensors(dir / "m.safetensors", deeper.named_parameters());
  const tg::nn::Sequential shallow = tg::nn::mlp({3, 4, 2}, {.seed = 2});
  try {
    io::load_parameters(shallow.named_parameters(), dir / "m.safetensors");
    FAIL();
  } catch (const tg::ValueError& e) {
    EXPECT_NE(std::string(e.what()).find("unexpected '4.weight'"), std::string::npos) << e.what();
  }
}

}  // namespace

namespace {
TEST(Safetensors, LoadingParametersBetweenForwardAndBackwardIsAnInPlaceChange) {
  TempDir dir;
  const Tensor w = Tensor::from({2., 3.}).requires_grad();
  const std::vector<tg::NamedTensor> params = {{"w", w}};
  io::save_safetensors(dir / "w.safetensors", params, {});
  tg::Tape tape;
  tg::TapeGuard guard(tape);
  const tg::Var loss = tg::sum(w * w);
  io::load_parameters(params, dir / "w.safetensors");
  EXPECT_THROW(loss.backward(), tg::TapeError);
}
}  // namespace
