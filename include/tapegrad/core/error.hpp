// SPDX-License-Identifier: Apache-2.0
/// @file
/// Exceptions thrown by tapegrad. Every message names the op and the offending values.
#pragma once

#include <stdexcept>
#include <string>

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad {

/// Base of every tapegrad exception: catch this to handle them all.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Operand shapes that do not fit the op (the message prints both shapes).
class ShapeError : public Error {
 public:
  using Error::Error;
};

/// float32 and float64 mixed, or the wrong dtype asked for.
class DTypeError : public Error {
 public:
  using Error::Error;
};

/// An index or axis outside its range.
class IndexError : public Error {
 public:
  using Error::Error;
};

/// A value outside an op's domain, or a bad argument (negative size, empty list...).
class ValueError : public Error {
 public:
  using Error::Error;
};

/// The operating system failed a write (disk full, I/O error, a rename refused): not a problem
/// with the caller's input. The message names the file and the reason.
class IoError : public Error {
 public:
  using Error::Error;
};

/// Misuse of the tape: mixing tapes, a Var used after its tape was reset, backward() misuse.
class TapeError : public Error {
 public:
  using Error::Error;
};

/// In anomaly mode (AnomalyGuard): an op whose value or gradient became NaN or infinite from
/// finite inputs. The message names the op, its operands, the offending values and where the op
/// was recorded.
class AnomalyError : public Error {
 public:
  using Error::Error;
};

}  // namespace tapegrad

#pragma GCC visibility pop
