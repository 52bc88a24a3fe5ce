// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>
#include <string_view>
#include <thread>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
namespace data = tapegrad::data;
using V = std::vector<double>;

namespace {

// A CSV file in a fresh temporary directory, removed at the end of the test.
class CsvFile {
 public:
  explicit CsvFile(std::string_view content, const std::string& name = "t.csv")
      : dir_(std::filesystem::temp_directory_path() /
             ("tapegrad_csv_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
              ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    std::filesystem::create_directories(dir_);
    path_ = dir_ / name;
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~CsvFile() { std::filesystem::remove_all(dir_); }
  const std::filesystem::path& path() const { return path_; }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_, path_;
};

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const tg::ValueError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Csv, HeaderDetectedAndTargetIsTheLastColumn) {
  const CsvFile f("a,b,y\n1,2,0\n3,4.5,1\n\n");
  const data::Dataset d = data::read_csv(f.path());
  EXPECT_EQ(d.size(), 2);
  EXPECT_EQ(d.num_features(), 2);
  EXPECT_EQ(d.features.to_vector(), (V{1, 2, 3, 4.5}));
  EXPECT_EQ(d.targets.to_vector(), (V{0, 1}));
  EXPECT_EQ(d.feature_names, (std::vector<std::string>{"a", "b"}));
}

TEST(Csv, NoHeaderAndTargetByIndexOrName) {
  const CsvFile plain("1,2,3\n4,5,6\n");
  const data::Dataset first = data::read_csv(plain.path(), {.target = std::int64_t{0}});
  EXPECT_EQ(first.targets.to_vector(), (V{1, 4}));
  EXPECT_EQ(first.features.to_vector(), (V{2, 3, 5, 6}));
  const data::Dataset middle = data::read_csv(plain.path(), {.target = std::int64_t{-2}});
  EXPECT_EQ(middle.targets.to_vector(), (V{2, 5}));
  const CsvFile named("x,price,z\n1,2,3\n");
  EXPECT_EQ(data::read_csv(named.path(), {.target = std::string("price")}).targets.to_vector(),
            (V{2}));
  const data::Dataset none = data::read_csv(plain.path(), {.target = data::CsvOptions::NoTarget{}});
  EXPECT_EQ(none.num_features(), 3);
  EXPECT_EQ(none.targets.numel(), 0);
}

TEST(Csv, SklearnFirstLineGivesClassNames) {
  const CsvFile f("2,2,setosa,virginica\n5.1,3.5,0\n4.9,3.0,1\n");
  const data::Dataset d = data::read_csv(f.path());
  EXPECT_EQ(d.size(), 2);
  EXPECT_EQ(d.class_names, (std::vector<std::string>{"setosa", "virginica"}));
  EXPECT_EQ(d.num_classes(), 2);
}

TEST(Csv, FirstLineWithHugeOrNegativeCountsIsAHeaderNotAnSklearnLine) {
  // Counts that no integer type can hold must not be converted to one (undefined behaviour).
  for (const char* counts : {"1e30,-1,a", "-1,1e300,a", "nan,inf,a", "1.5,2,a"}) {
    const CsvFile f(std::string(counts) + "\n1,2,3\n");
    const data::Dataset d = data::read_csv(f.path(), {.header = data::CsvOptions::Header::yes});
    EXPECT_EQ(d.size(), 1) << counts;
    EXPECT_TRUE(d.class_names.empty()) << counts;
  }
}

TEST(Csv, HeaderYesAndNoOverrideDetection) {
  const CsvFile numeric("1,2,3\n4,5,6\n");
  const data::Dataset with =
      data::read_csv(numeric.path(), {.header = data::CsvOptions::Header::yes});
  EXPECT_EQ(with.size(), 1);
  EXPECT_EQ(with.feature_names, (std::vector<std::string>{"1", "2"}));
  const CsvFile words("a,b,c\n4,5,6\n", "w.csv");
  EXPECT_EQ(
      error_of([&] { data::read_csv(words.path(), {.header = data::CsvOptions::Header::no}); }),
      "w.csv:1:1: 'a' is not a number");
}

TEST(Csv, BadValueNamesFileLineAndColumn) {
  const CsvFile f("1,2,3\n4,abc,6\n", "bad.csv");
  EXPECT_EQ(error_of([&] { data::read_csv(f.path()); }), "bad.csv:2:2: 'abc' is not a number");
}

TEST(Csv, NanAndInfinityAreRejectedWithTheirPosition) {
  const CsvFile f("1,2,3\n4,nan,6\n", "n.csv");
  EXPECT_NE(
      error_of([&] { data::read_csv(f.path()); }).find("n.csv:2:2: 'nan' is not a finite number"),
      std::string::npos);
  const CsvFile g("1,2,-inf\n", "i.csv");
  EXPECT_NE(error_of([&] { data::read_csv(g.path()); }).find("i.csv:1:3: '-inf' is not a finite"),
            std::string::npos);
}

TEST(Csv, RaggedRowMissingFileAndUnknownColumn) {
  const CsvFile ragged("1,2,3\n\n4,5\n", "r.csv");
  EXPECT_NE(error_of([&] {
              data::read_csv(ragged.path());
            }).find("r.csv:3: 2 fields, but the first data row has 3"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              data::read_csv("/nonexistent/x.csv");
            }).find("/nonexistent/x.csv: cannot open"),
            std::string::npos);
  const CsvFile named("a,b\n1,2\n");
  EXPECT_NE(error_of([&] {
              data::read_csv(named.path(), {.target = std::string("c")});
            }).find("no column named 'c'"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              data::read_csv(named.path(), {.target = std::int64_t{5}});
            }).find("out of range"),
            std::string::npos);
}

// ---- RFC 4180 quoting (issue 14: quoted fields were refused) -------------------------------
TEST(Csv, QuotedFieldsHeaderNamesAndNumbers) {
  const CsvFile f(
      "\"price, EUR\",\"say \"\"hi\"\"\", plain ,\"y\"\r\n"
      "\"1.5\", 2 ,3,0\r\n"
      " \"4\" ,\"5e1\",\"-6\",1\r\n");
  const data::Dataset d = data::read_csv(f.path());
  EXPECT_EQ(d.feature_names, (std::vector<std::string>{"price, EUR", "say \"hi\"", "plain"}));
  EXPECT_EQ(d.target_name, "y");
  EXPECT_EQ(d.features.to_vector(), (V{1.5, 2, 3, 4, 50, -6}));
  EXPECT_EQ(d.targets.to_vector(), (V{0, 1}));
  // A quoted delimiter and a quoted empty field are fields, not separators.
  const CsvFile g("a,\"\",c\n1,2,3\n", "g.csv");
  EXPECT_EQ(data::read_csv(g.path()).feature_names, (std::vector<std::string>{"a", ""}));
}

TEST(Csv, MalformedQuotingNamesFileLineAndColumn) {
  struct Case {
    const char* text;
    const char* message;
  };
  for (const Case& c : {
           Case{"a,b\n1,\"2\n", "q.csv:2:2: the quoted field \"2 is not closed on this line"},
           Case{"a,b\n\"1\"x,2\n", "q.csv:2:1: text after the closing quote of a quoted field"},
           Case{"a,b\n1,\"2\" \"3\"\n", "q.csv:2:2: text after the closing quote"},
           Case{"a,x\"y\n1,2\n", "q.csv:1:2: a '\"' inside an unquoted field (x\"y)"},
           // RFC 4180 allows a newline inside quotes; tapegrad refuses it on its first line.
           Case{"\"two\nlines\",b\n1,2\n",
                "q.csv:1:1: the quoted field \"two is not closed on "
                "this line (a closing '\"' is missing; a field cannot "
                "span lines)"},
       }) {
    SCOPED_TRACE(c.text);
    const CsvFile f(c.text, "q.csv");
    EXPECT_NE(error_of([&] { data::read_csv(f.path()); }).find(c.message), std::string::npos)
        << error_of([&] { data::read_csv(f.path()); });
  }
}

// ---- what is read (issue 14: a directory or /dev/zero gave "no data" after reading 1 GB) ----
TEST(Csv, NonRegularFilesAreRefusedBeforeAByteIsRead) {
  const CsvFile f("1,2\n");
  EXPECT_EQ(error_of([&] { data::read_csv(f.dir()); }),
            f.dir().string() + ": is a directory; data is read from regular files only");
  if (std::filesystem::exists("/dev/zero")) {
    EXPECT_EQ(error_of([] { data::read_csv("/dev/zero"); }),
              "/dev/zero: is a character device; data is read from regular files only");
  }
  // A FIFO: refused without opening it (opening would wait for a writer). The writer here only
  // gets past its open() once someone opens the FIFO for reading — the reader under test, if it
  // wrongly does, or the test itself afterwards — so the test ends either way.
  const std::filesystem::path fifo = f.dir() / "pipe.csv";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::thread writer([&] {
    const int fd = ::open(fifo.c_str(), O_WRONLY);
    if (fd >= 0) {
      (void)::write(fd, "1,2\n", 4);
      ::close(fd);
    }
  });
  const std::string error = error_of([&] { data::read_csv(fifo); });
  const int unblock = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
  writer.join();
  if (unblock >= 0) ::close(unblock);
  EXPECT_EQ(error,
            fifo.string() + ": is a named pipe (FIFO); data is read from regular files only");
}

TEST(Csv, LinesColumnsAndFilesAreBounded) {
  // A line over the 1 MiB default is refused naming it, before it is split.
  const CsvFile longline("a,b\n1," + std::string(std::size_t{2} << 20, '1') + "\n", "l.csv");
  EXPECT_EQ(error_of([&] { data::read_csv(longline.path()); }),
            "l.csv:2: the line is longer than 1048576 bytes, the limit on a line (is this a CSV "
            "file?)");
  // More fields than the 65536 default.
  std::string wide = "1";
  for (int i = 0; i < 65536; ++i) wide += ",1";
  const CsvFile w(wide + "\n", "w.csv");
  EXPECT_EQ(error_of([&] { data::read_csv(w.path()); }),
            "w.csv:1: more than 65536 fields, the limit on columns");
  // The limits are options.
  const CsvFile small("1,2,3\n4,5,6\n", "s.csv");
  EXPECT_EQ(error_of([&] { data::read_csv(small.path(), {.max_columns = 2}); }),
            "s.csv:1: more than 2 fields, the limit on columns");
  EXPECT_EQ(error_of([&] { data::read_csv(small.path(), {.max_line_bytes = 4}); }),
            "s.csv:1: the line is longer than 4 bytes, the limit on a line (is this a CSV file?)");
  EXPECT_EQ(error_of([&] { data::read_csv(small.path(), {.max_file_bytes = 11}); }),
            small.path().string() + ": larger than 11 bytes, the limit on a data file");
  EXPECT_EQ(data::read_csv(small.path(), {.max_file_bytes = 12}).size(), 2);
}

TEST(Csv, MessagesQuoteAtMostABitOfAField) {
  const CsvFile f("a,b\n1," + std::string(100000, 'x') + std::string(1, '\x01') + "\n", "m.csv");
  const std::string message = error_of([&] { data::read_csv(f.path()); });
  EXPECT_EQ(message, "m.csv:2:2: '" + std::string(40, 'x') + "...' is not a number");
  const CsvFile g("a,b\n1,\x01\x02\n", "g.csv");
  EXPECT_EQ(error_of([&] { data::read_csv(g.path()); }), "g.csv:2:2: '\\x01\\x02' is not a number");
}

TEST(Csv, ParseCsvReadsTextInMemory) {
  const data::Dataset d = data::parse_csv("x,\"y\"\n1,2\n3,4\n", "memory");
  EXPECT_EQ(d.features.to_vector(), (V{1, 3}));
  EXPECT_EQ(d.target_name, "y");
  EXPECT_EQ(error_of([] { data::parse_csv("x,y\n1,z\n", "memory"); }),
            "memory:2:2: 'z' is not a number");
  EXPECT_EQ(error_of([] { data::parse_csv("", "memory"); }), "memory: no data");
}

// ---- columns by name (issue 14: eval/predict took columns by position) ----------------------
TEST(Csv, FeaturesChosenByNameInTheirOrderOtherColumnsIgnored) {
  const CsvFile f("b,y,id,a\n2,0,row-1,1\n4,1,row-2,3\n");
  const data::Dataset d =
      data::read_csv(f.path(), {.target = std::string("y"), .features = {"a", "b"}});
  EXPECT_EQ(d.feature_names, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(d.features.to_vector(), (V{1, 2, 3, 4}));  // 'id' is not read as a number
  EXPECT_EQ(d.targets.to_vector(), (V{0, 1}));
  const data::Dataset none =
      data::read_csv(f.path(), {.target = data::CsvOptions::NoTarget{}, .features = {"b"}});
  EXPECT_EQ(none.features.to_vector(), (V{2, 4}));
  EXPECT_EQ(none.targets.numel(), 0);
}

TEST(Csv, FeaturesByNameThatCannotBeFoundAreRefused) {
  const CsvFile f("b,y,a,a\n2,0,1,1\n", "f.csv");
  EXPECT_EQ(error_of([&] {
              data::read_csv(f.path(), {.target = std::string("y"), .features = {"c", "b", "d"}});
            }),
            "f.csv: no column named 'c', 'd' (the file's columns: 'b', 'y', 'a', 'a')");
  EXPECT_EQ(
      error_of([&] { data::read_csv(f.path(), {.target = std::string("y"), .features = {"a"}}); }),
      "f.csv: 2 columns are named 'a' (columns 3, 4); a column chosen by name must be unique");
  EXPECT_EQ(
      error_of([&] { data::read_csv(f.path(), {.target = std::string("y"), .features = {"y"}}); }),
      "f.csv: column 'y' is both the target and a feature");
  const CsvFile plain("1,2,3\n", "p.csv");
  EXPECT_EQ(error_of([&] { data::read_csv(plain.path(), {.features = {"a"}}); }),
            "p.csv: the feature columns are chosen by name ('a'), but the file has no header");
}

TEST(Csv, NamesComeOnlyFromAHeader) {
  const CsvFile plain("1,2,3\n4,5,6\n");
  const data::Dataset d = data::read_csv(plain.path());
  EXPECT_TRUE(d.feature_names.empty());
  EXPECT_TRUE(d.target_name.empty());
  EXPECT_TRUE(data::read_csv_header(plain.path()).empty());
  const CsvFile named("\"a\",b,c\n1,2,3\n", "n.csv");
  EXPECT_EQ(data::read_csv_header(named.path()), (std::vector<std::string>{"a", "b", "c"}));
  const CsvFile sklearn("2,2,setosa,virginica\n5.1,3.5,0\n4.9,3.0,1\n", "s.csv");
  EXPECT_TRUE(data::read_csv_header(sklearn.path()).empty());
}

TEST(Datasets, SelectFeaturesByName) {
  const data::Dataset iris = data::load_dataset("iris");
  const std::vector<std::string> names = {"petal width (cm)", "sepal length (cm)"};
  const data::Dataset two = data::select_features(iris, names);
  EXPECT_EQ(two.feature_names, names);
  EXPECT_EQ(two.features.get(0, 0), iris.features.get(0, 3));
  EXPECT_EQ(two.features.get(0, 1), iris.features.get(0, 0));
  EXPECT_EQ(two.targets.to_vector(), iris.targets.to_vector());
  const std::vector<std::string> wrong = {"petal width (cm)", "colour"};
  EXPECT_NE(error_of([&] { data::select_features(iris, wrong); }).find("no feature named 'colour'"),
            std::string::npos);
}

TEST(Datasets, BundledSetsHaveFeatureAndTargetNames) {
  for (const std::string& name : data::dataset_names()) {
    SCOPED_TRACE(name);
    const data::Dataset d = data::load_dataset(name);
    EXPECT_EQ(d.feature_names.size(), static_cast<std::size_t>(d.num_features()));
    EXPECT_EQ(std::set<std::string>(d.feature_names.begin(), d.feature_names.end()).size(),
              d.feature_names.size());
    EXPECT_EQ(d.target_name, "target");
  }
  EXPECT_EQ(data::load_dataset("iris").feature_names.front(), "sepal length (cm)");
  EXPECT_EQ(data::load_dataset("wine").feature_names.back(), "proline");
  EXPECT_EQ(data::load_dataset("breast_cancer").feature_names.back(), "worst fractal dimension");
  EXPECT_EQ(data::load_dataset("digits").feature_names[9], "pixel_1_1");
}

TEST(Datasets, BundledSetsLoadByName) {
  struct Expect {
    const char* name;
    std::int64_t rows, features, classes;
  };
  for (const Expect& e : {Expect{"digits", 1797, 64, 10}, Expect{"iris", 150, 4, 3},
                          Expect{"wine", 178, 13, 3}, Expect{"breast_cancer", 569, 30, 2}}) {
    SCOPED_TRACE(e.name);
    const data::Dataset d = data::load_dataset(e.name);
    EXPECT_EQ(d.size(), e.rows);
    EXPECT_EQ(d.num_features(), e.features);
    EXPECT_EQ(d.num_classes(), e.classes);
    EXPECT_NO_THROW((void)d.labels());
  }
  const data::Dataset diabetes = data::load_dataset("diabetes");
  EXPECT_EQ(diabetes.size(), 442);
  EXPECT_EQ(diabetes.num_features(), 10);
  EXPECT_TRUE(diabetes.class_names.empty());
  EXPECT_EQ(diabetes.feature_names.front(), "age");
  EXPECT_EQ(diabetes.targets.get(0), 151.0);
  EXPECT_NE(error_of([] { data::load_dataset("mnist"); }).find("known: digits"), std::string::npos);
}

TEST(Split, SizesDeterminismAndDisjointness) {
  const data::Dataset d = data::load_dataset("iris");
  const auto [train, test] = data::train_test_split(d, 0.2, 7);
  EXPECT_EQ(train.size(), 120);
  EXPECT_EQ(test.size(), 30);
  const auto [train2, test2] = data::train_test_split(d, 0.2, 7);
  EXPECT_EQ(test.features.to_vector(), test2.features.to_vector());
  const auto [train3, test3] = data::train_test_split(d, 0.2, 8);
  EXPECT_NE(test.features.to_vector(), test3.features.to_vector());
  // Every row exactly once: the rows (features + target) of both parts are those of the whole.
  std::multiset<std::vector<double>> all, parts;
  const auto rows = [](const data::Dataset& s, std::multiset<std::vector<double>>& into) {
    for (std::int64_t i = 0; i < s.size(); ++i) {
      into.insert({s.features.get(i, 0), s.features.get(i, 1), s.features.get(i, 2),
                   s.features.get(i, 3), s.targets.get(i)});
    }
  };
  rows(d, all);
  rows(train, parts);
  rows(test, parts);
  EXPECT_EQ(all, parts);
}

TEST(Split, StratifiedKeepsClassShares) {
  const data::Dataset d = data::load_dataset("iris");  // 50 of each class
  const auto [train, test] = data::train_test_split(d, 0.2, 3, /*stratify=*/true);
  std::vector<int> counts(3, 0);
  for (std::int64_t l : test.labels()) ++counts[static_cast<std::size_t>(l)];
  EXPECT_EQ(counts, (std::vector<int>{10, 10, 10}));
}

TEST(Batches, EveryRowOncePerEpochReshuffledEachEpoch) {
  const auto epoch1 = data::batches(10, 4, 7, 1);
  ASSERT_EQ(epoch1.size(), 3u);
  EXPECT_EQ(epoch1.back().size(), 2u);
  std::vector<std::int64_t> seen;
  for (const auto& b : epoch1) seen.insert(seen.end(), b.begin(), b.end());
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_NE(epoch1, data::batches(10, 4, 7, 2));
  EXPECT_EQ(epoch1, data::batches(10, 4, 7, 1));
  EXPECT_EQ(data::batches(5, 2, 7, 1, false),
            (std::vector<std::vector<std::int64_t>>{{0, 1}, {2, 3}, {4}}));
  EXPECT_THROW((void)data::batches(5, 0, 0, 0), tg::ValueError);
}

TEST(Standardizer, FittedOnTrainGivesZeroMeanUnitVariance) {
  const tg::Tensor x = tg::Tensor::from({{1., 10., 5.}, {3., 30., 5.}, {5., 50., 5.}});
  data::Standardizer s;
  s.fit(x);
  EXPECT_EQ(s.mean(), (V{3, 30, 5}));
  EXPECT_EQ(s.scale()[2], 1.0);  // constant feature
  const tg::Tensor z = s.transform(x);
  EXPECT_NEAR(tg::mean(z, {0}).get(0), 0.0, 1e-15);
  EXPECT_NEAR(tg::mean(z * z, {0}).get(1), 1.0, 1e-15);
  EXPECT_EQ(s.transform(tg::cast(x, tg::DType::f32)).dtype(), tg::DType::f32);
  EXPECT_THROW((void)s.transform(tg::ones({2, 4})), tg::ShapeError);
  EXPECT_THROW((void)data::Standardizer::from({0.0}, {0.0}), tg::ValueError);
}

}  // namespace
