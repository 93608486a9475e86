#!/usr/bin/env bash
# The property tests (crates/bangerd/tests/properties.rs: archives, the tar
# guard, kernel images and .debs, OCI references, manifests and indexes,
# the config file, agent frames, session streams) with many more cases than
# the suite's bounded run. PROPTEST_CASES sets how many a property (default 20000); arguments
# go to the test binary (a property's name runs only that one).
set -euo pipefail
cd "$(dirname "$0")/.."
export PROPTEST_CASES="${PROPTEST_CASES:-20000}"
exec cargo test -p bangerd --test properties -- "$@"
