#!/usr/bin/env bash
# Builds the libFuzzer targets in fuzz/ with clang (ASan + UBSan) and runs each for a bounded
# time from its committed seed corpus (fuzz/corpus/TARGET). Any crash, leak, sanitizer
# report or unit slower than the timeout fails the script; reproducers are left in the
# output directory (crash-*, timeout-*, leak-*) to become regression tests.
#
#   ci/fuzz.sh [TARGET ...]     FUZZ_SECONDS (default 60) per target, FUZZ_DIR (build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${FUZZ_DIR:-build-fuzz}
seconds=${FUZZ_SECONDS:-60}
cxx=${FUZZ_CXX:-clang++-14}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(smtp_reply_fuzzer imap_response_fuzzer sasl_fuzzer)
fi

# The protocol sources the parsers live in, compiled once with the sanitizers.
sources=(checks/proto/smtp.cpp checks/proto/imap.cpp checks/proto/line_session.cpp
         checks/proto/tls.cpp checks/proto/address.cpp)
for f in checks/proto/sasl/*.cpp; do sources+=("$f"); done
flags=(-std=c++17 -O1 -g -I. -fsanitize=address,undefined -fno-sanitize-recover=undefined
       -fno-omit-frame-pointer)
libs=(-lPocoNetSSL -lPocoNet -lPocoCrypto -lPocoFoundation -lfmt -lssl -lcrypto)

mkdir -p "$out/obj"
objects=()
for src in "${sources[@]}"; do
  obj="$out/obj/$(echo "$src" | tr / _).o"
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ]; then
    "$cxx" "${flags[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
  fi
  objects+=("$obj")
done

seeds=$PWD/fuzz/corpus
status=0
for t in "${targets[@]}"; do
  "$cxx" "${flags[@]}" -fsanitize=fuzzer "fuzz/$t.cpp" "${objects[@]}" "${libs[@]}" -o "$out/$t"
  mkdir -p "$out/corpus/$t"
  # -timeout=1: a unit that takes a second (libFuzzer's smallest) is a failure.
  if ! (cd "$out" && "./$t" -max_total_time="$seconds" -timeout=1 -rss_limit_mb=2048 \
          -print_final_stats=1 "corpus/$t" "$seeds/$t" > "$t.log" 2>&1); then
    echo "FAIL $t (see $out/$t.log)"
    tail -40 "$out/$t.log"
    status=1
  fi
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/$t.log" | grep -o '[0-9]*$' || echo "?")
  echo "$t: $runs executions in ${seconds} s"
done
exit "$status"
