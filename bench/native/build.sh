#!/usr/bin/env bash
# Builds bench/native/.build/llama-speed (and llama-quantize-ref, llama.cpp's quantizer for the
# quantized-export test): llama.cpp compiled for this CPU (-march=native, OpenMP,
# llamafile sgemm), from the sources @fugood/llama.node vendors. Optional; not part of npm test or CI.
#
#   bash bench/native/build.sh            (from the repository root; -j2 by default, JOBS=N to change)
#   CORE_ONLY=1 bash bench/native/build.sh   (only fetch ggml's core sources, print their folder)
#
# @fugood/llama.node's npm package ships llama.cpp's include/, src/, ggml/include/ and
# ggml/src/ggml-cpu/ but not ggml's core (ggml/src/ggml.c, ggml-backend.cpp, gguf.cpp, ...). Those
# come from GGML_CORE_DIR when set (e.g. a llama.cpp checkout's ggml/src at the same commit), else
# from the npm package llama.rn, which the same authors sync with the same llama.cpp releases and
# which ships them with ggml's symbols renamed (lm_ggml_*, LM_GGML_*): they are unpacked into
# bench/native/.build/ggml-core and renamed back. Before building, the script checks that the
# renamed-back public headers and CPU backend are byte-identical to llama.node's, so a version
# drift between the two packages stops the build instead of mixing releases.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
BUILD="$HERE/.build"  # a dot folder: tsconfig includes bench/, and CMake writes *.ts (compiler_depend.ts) files
LLAMA_CPP_DIR="${LLAMA_CPP_DIR:-$ROOT/node_modules/@fugood/llama.node/src/llama.cpp}"
# llama.rn release with ggml at llama.cpp b10256, the release @fugood/llama.node 1.7.15 (b10257) vendors.
LLAMA_RN_VERSION="${LLAMA_RN_VERSION:-0.12.9}"
JOBS="${JOBS:-2}"

[ -f "$LLAMA_CPP_DIR/include/llama.h" ] || { echo "build.sh: no llama.cpp sources at $LLAMA_CPP_DIR (npm ci first)" >&2; exit 1; }
mkdir -p "$BUILD"

if [ -f "$LLAMA_CPP_DIR/ggml/src/ggml.c" ]; then
  CORE=""
elif [ -n "${GGML_CORE_DIR:-}" ]; then
  CORE="$(cd "$GGML_CORE_DIR" && pwd)"
else
  CORE="$BUILD/ggml-core"
  stamp="$CORE/.from-llama.rn-$LLAMA_RN_VERSION"
  if [ ! -f "$stamp" ]; then
    deps="$BUILD/deps"
    rm -rf "$deps" "$CORE"
    mkdir -p "$deps" "$CORE"
    echo "build.sh: ggml core from npm llama.rn@$LLAMA_RN_VERSION"
    (cd "$deps" && npm pack --silent "llama.rn@$LLAMA_RN_VERSION" >/dev/null)
    tar -xzf "$deps"/llama.rn-*.tgz -C "$deps"
    shopt -s nullglob
    for f in "$deps"/package/cpp/ggml*.c "$deps"/package/cpp/ggml*.cpp "$deps"/package/cpp/ggml*.h \
             "$deps"/package/cpp/gguf.cpp "$deps"/package/cpp/gguf.h; do
      cp "$f" "$CORE/"
    done
    # Compare against llama.node's copy of the CPU backend as well.
    mkdir -p "$deps/check"
    cp -r "$deps/package/cpp/ggml-cpu" "$deps/check/"
    sed -i -e 's/lm_ggml/ggml/g; s/LM_GGML/GGML/g; s/lm_gguf/gguf/g; s/LM_GGUF/GGUF/g; s/lm_iq2xs/iq2xs/g; s/lm_iq3xs/iq3xs/g' \
      "$CORE"/* $(find "$deps/check" -type f)
    bad=0
    for h in "$LLAMA_CPP_DIR"/ggml/include/*.h; do
      b="$(basename "$h")"
      if [ -f "$CORE/$b" ] && ! cmp -s "$h" "$CORE/$b"; then echo "build.sh: $b differs from llama.node's" >&2; bad=1; fi
    done
    for f in ggml-cpu.c ggml-cpu.cpp ops.cpp vec.h simd-mappings.h ggml-cpu-impl.h arch/x86/quants.c; do
      if ! cmp -s "$LLAMA_CPP_DIR/ggml/src/ggml-cpu/$f" "$deps/check/ggml-cpu/$f"; then echo "build.sh: ggml-cpu/$f differs from llama.node's" >&2; bad=1; fi
    done
    if [ "$bad" != 0 ]; then
      echo "build.sh: llama.rn@$LLAMA_RN_VERSION is not the ggml release @fugood/llama.node vendors; set LLAMA_RN_VERSION to the matching one or GGML_CORE_DIR to a llama.cpp checkout's ggml/src" >&2
      rm -rf "$CORE"
      exit 1
    fi
    # The public headers are llama.node's (ggml/include); keep only the core's private ones here.
    for h in "$LLAMA_CPP_DIR"/ggml/include/*.h; do rm -f "$CORE/$(basename "$h")"; done
    rm -rf "$deps"
    touch "$stamp"
  fi
fi

# CORE_ONLY=1: stop once the ggml core sources are in place (the quantizer byte-identity test
# compiles ggml-quants.c from them) and print their folder.
if [ -n "${CORE_ONLY:-}" ]; then echo "${CORE:-$LLAMA_CPP_DIR/ggml/src}"; exit 0; fi

start=$(date +%s)
cmake -S "$HERE" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CPP_DIR="$LLAMA_CPP_DIR" ${CORE:+-DGGML_CORE_DIR="$CORE"}
cmake --build "$BUILD" -j"$JOBS" --target llama-speed llama-quantize-ref llama-nll
echo "build.sh: built $BUILD/llama-speed and llama-quantize-ref in $(( $(date +%s) - start )) s"
