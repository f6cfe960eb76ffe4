//! Batch rows: a CSV or JSONL input through `hostloc batch` in-process, its output checked
//! row by row against the input (see `src/lib.rs` for the checks).

#![no_main]

use std::sync::LazyLock;

use hostloc_fuzz::BatchHarness;
use libfuzzer_sys::fuzz_target;

static HARNESS: LazyLock<BatchHarness> = LazyLock::new(BatchHarness::new);

fuzz_target!(|data: &[u8]| HARNESS.check(data));
