// SPDX-License-Identifier: Apache-2.0
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include <gtest/gtest.h>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;
namespace data = tapegrad::data;
using V = std::vector<double>;

namespace {

// A CSV file in a fresh temporary directory, removed at the end of the test.
class CsvFile {
 public:
  explicit CsvFile(const std::string& content, const std::string& name = "t.csv")
      : dir_(std::filesystem::temp_directory_path() /
             ("tapegrad_csv_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
              ::testing::UnitTest::GetInstance()->current_test_info()->name())) {
    std::filesystem::create_directories(dir_);
    path_ = dir_ / name;
    std::ofstream(path_) << content;
  }
  ~CsvFile() { std::filesystem::remove_all(dir_); }
  const std::filesystem::path& path() const { return path_; }

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
