#!/usr/bin/env bash
# Builds the fuzz targets of the native fast path (see README.md) with
# AddressSanitizer and UndefinedBehaviorSanitizer, then runs each for
# PEERTAP_FUZZ_SECONDS seconds (default 5), PEERTAP_FUZZ_JOBS at a time
# (default: the number of cores). Exits non-zero on any sanitizer report,
# failed check or crash; the input that caused it is in $build/artifacts.
#
#   packages/tap/fuzz/run.sh [TARGET...]      targets: data payload window cache device gro tun aes
#
# Environment:
#   PEERTAP_FUZZ_SECONDS  seconds per target (5)
#   PEERTAP_FUZZ_SEED     the mutation seed (default: a new one, printed)
#   PEERTAP_FUZZ_JOBS     targets run at once (nproc)
#   PEERTAP_FUZZ_BUILD    build directory (packages/tap/fuzz/build); kept
#                         between runs, rebuilt when a source, the flags or
#                         the compiler change
#   CXX                   the compiler (g++)
# The binaries compile against Node's own headers (node_api.h, and its
# bundled OpenSSL's: the addon's OpenSSL is Node's) and link the system's
# libcrypto.so.3, whose EVP interface they use.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
src=$(cd "$here/../src" && pwd)
build=${PEERTAP_FUZZ_BUILD:-$here/build}
seconds=${PEERTAP_FUZZ_SECONDS:-5}
jobs=${PEERTAP_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}
seed=${PEERTAP_FUZZ_SEED:-$(( ($(date +%s%N) / 1000) % 4294967296 ))}
cxx=${CXX:-g++}
all=(data payload window cache device gro tun aes)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")

die() { echo "fuzz: $*" >&2; exit 2; }
command -v "$cxx" >/dev/null 2>&1 || die "no C++ compiler ($cxx); Debian: apt-get install g++"
node_bin=$(command -v node) || die "no node on PATH (its headers are needed)"
inc=$(dirname "$(dirname "$node_bin")")/include/node
[ -f "$inc/node_api.h" ] && [ -f "$inc/openssl/evp.h" ] || die "no Node headers with OpenSSL in $inc"
crypto=$("$cxx" -print-file-name=libcrypto.so.3)
if [ "$crypto" != libcrypto.so.3 ] || [ -e /usr/lib/x86_64-linux-gnu/libcrypto.so.3 ] || ldconfig -p 2>/dev/null | grep -q 'libcrypto.so.3 '; then
  libs=(-l:libcrypto.so.3)
else
  die "no libcrypto.so.3 (Debian: libssl3)"
fi

flags=(-std=c++17 -fsanitize=address,undefined -fno-sanitize-recover=all -g -O1
  -fno-omit-frame-pointer -Wall -Wextra -Wno-unused-parameter -DNAPI_VERSION=8 -I"$inc")
sources=("$here"/*.cc "$here"/*.h "$src"/aes-ni.cc "$src"/aes-ni.h "$src"/cipher.cc "$src"/cipher.h
  "$src"/flow-core.cc "$src"/flow-core.h "$src"/flow-cache.cc
  "$src"/flow-cache.h "$src"/udp.cc "$src"/udp.h "$src"/reader.h)

# Build, unless the stamp says nothing changed.
mkdir -p "$build/obj" "$build/artifacts"
stamp=$( { "$cxx" --version | head -1; echo "${flags[*]} ${libs[*]}"; cat "${sources[@]}"; } | sha256sum | cut -c1-16)
if [ "$(cat "$build/stamp" 2>/dev/null)" != "$stamp" ] || ! ls "$build"/fuzz-{data,payload,window,cache,device,gro,tun,aes} >/dev/null 2>&1; then
  rm -f "$build/stamp"
  started=$(date +%s)
  units=("$here/driver.cc" "$src/aes-ni.cc" "$src/cipher.cc" "$src/flow-core.cc" "$src/flow-cache.cc" "$src/udp.cc")
  for t in "${all[@]}"; do units+=("$here/fuzz_$t.cc"); done
  printf '%s\n' "${units[@]}" |
    xargs -P "$jobs" -I{} sh -c 'o="$1/obj/$(basename "$2" .cc).o"; shift 2; "$0" "$@" -c "$1" -o "$o" 2>"$o.log" || { cat "$o.log" >&2; exit 255; }' \
      "$cxx" "$build" {} "${flags[@]}" {} ||
    die "the build failed"
  o=$build/obj
  for t in "${all[@]}"; do
    extra=()
    [ "$t" = cache ] || [ "$t" = device ] || [ "$t" = tun ] && extra=("$o/flow-cache.o" "$o/udp.o")
    [ "$t" = gro ] && extra=("$o/udp.o")
    "$cxx" "${flags[@]}" -o "$build/fuzz-$t" "$o/fuzz_$t.o" "$o/driver.o" "$o/aes-ni.o" "$o/cipher.o" "$o/flow-core.o" "${extra[@]}" "${libs[@]}" -pthread ||
      die "linking fuzz-$t failed"
  done
  echo "$stamp" >"$build/stamp"
  echo "fuzz: built ${all[*]} in $(($(date +%s) - started)) s ($build)"
fi

# Run, PEERTAP_FUZZ_JOBS at a time; each also runs its regression corpus
# (corpus/TARGET/, if any) first.
echo "fuzz: ${targets[*]}, $seconds s each, seed $seed"
declare -A pid_of
for t in "${targets[@]}"; do
  [ -x "$build/fuzz-$t" ] || die "no target $t (${all[*]})"
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  corpus=()
  [ -d "$here/corpus/$t" ] && corpus=("$here/corpus/$t")
  timeout -k 5 $((${seconds%.*} + 120)) "$build/fuzz-$t" --seconds "$seconds" --seed "$seed" \
    --artifacts "$build/artifacts" "${corpus[@]}" >"$build/$t.log" 2>&1 &
  pid_of[$t]=$!
done
failed=()
for t in "${targets[@]}"; do
  rc=0
  wait "${pid_of[$t]}" || rc=$?
  # Any report fails the run, whatever the exit code.
  if [ "$rc" -ne 0 ] || grep -qE 'ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error:|peertap-fuzz: FINDING' "$build/$t.log"; then
    failed+=("$t")
    echo "fuzz: $t FAILED (exit $rc), seed $seed; its output:" >&2
    tail -n 80 "$build/$t.log" >&2
  else
    grep -h 'peertap-fuzz' "$build/$t.log"
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]} (inputs in $build/artifacts; PEERTAP_FUZZ_SEED=$seed repeats the run)" >&2
  exit 1
fi
echo "fuzz: no finding"
