// SPDX-License-Identifier: Apache-2.0
/// @file
/// How tapegrad writes a file (save_safetensors, and the tool's --save, --metrics and -o):
///
/// - Atomically: the bytes go to a temporary in the target's directory, named
///   `.NAME.tapegrad-partial.<pid>.<random>` and created exclusively (never through a link
///   planted there); the temporary is flushed to disk, renamed over NAME, and the directory is
///   flushed. A reader sees the old file or the new one, never a half-written one, and a failed
///   write leaves the old file as it was.
/// - Through symlinks: a link is written through to its final target, and stays a link.
/// - Only onto regular files: a directory, device, FIFO or socket at the path is refused before
///   anything is written; so is a path whose directory does not exist.
/// - Keeping the permission bits of the file it replaces (a new file gets 0666 less the umask),
///   and its owner and group when the process may set them.
/// - Leaving nothing behind: the temporary is removed on every error. A process that is killed
///   while writing keeps its temporary, unless remove_partial_files_on_signals() was called and
///   the signal is SIGINT, SIGTERM or SIGHUP. SIGKILL (or a crash) leaves at most one temporary
///   per target: the next write of that target removes temporaries of processes that no longer
///   exist.
#pragma once

#pragma GCC visibility push(default)  // the API: exported from libtapegrad.so

namespace tapegrad::io {

/// Installs handlers for SIGINT, SIGTERM and SIGHUP that remove the temporaries of writes in
/// progress, then end the process as the signal would have (its default action, so the exit
/// status still says which signal). A signal whose disposition is not the default (the program's
/// own handler, or ignored, as nohup and background jobs set it) is left alone. The library never
/// installs handlers by itself: a program calls this once, early (the tapegrad tool does in main).
void remove_partial_files_on_signals();

}  // namespace tapegrad::io

#pragma GCC visibility pop
