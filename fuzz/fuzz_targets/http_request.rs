//! The HTTP request path: a query string for `GET /v1/lookup` or a JSON body for
//! `POST /v1/lookup`, through the whole router in-process (see `src/lib.rs` for the checks).

#![no_main]

use std::sync::LazyLock;

use hostloc_fuzz::HttpHarness;
use libfuzzer_sys::fuzz_target;

static HARNESS: LazyLock<HttpHarness> = LazyLock::new(HttpHarness::new);

fuzz_target!(|data: &[u8]| HARNESS.check(data));
