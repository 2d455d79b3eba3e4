#!/bin/sh
# Builds jaxgen's CPU kernels (conv_onednn.cc, group_norm.cc, optimizer.cc) into
# OUT/libjaxgen_onednn.so against Debian's oneDNN 2.x (libdnnl2, libdnnl-dev, and libOpenCL,
# which libdnnl links), unpacked without root into OUT/root.
# usage: build_onednn.sh PYTHON OUT
set -eu
PY=$1
OUT=$2
DIR=$(dirname "$0")
LIB=usr/lib/x86_64-linux-gnu
mkdir -p "$OUT/deb"
if [ ! -f "$OUT/root/$LIB/libdnnl.so.2.6" ]; then
  (cd "$OUT/deb" && (apt-get download libdnnl2 libdnnl-dev ocl-icd-libopencl1 2>/dev/null \
    || (apt-get update -qq && apt-get download libdnnl2 libdnnl-dev ocl-icd-libopencl1)))
  for f in "$OUT"/deb/*.deb; do dpkg -x "$f" "$OUT/root"; done
fi
INCLUDE=$("$PY" -c "import jax; print(jax.ffi.include_dir())")
# DT_RPATH (not RUNPATH) so that libdnnl also finds libOpenCL beside it.
# -fno-trapping-math / -fno-math-errno let the GroupNorm's SiLU loops vectorise (same results).
g++ -O3 -fno-trapping-math -fno-math-errno -std=c++17 -shared -fPIC -fopenmp \
  -isystem "$INCLUDE" -isystem "$OUT/root/usr/include" \
  "$DIR/conv_onednn.cc" "$DIR/group_norm.cc" "$DIR/optimizer.cc" "$OUT/root/$LIB/libdnnl.so.2.6" \
  -Wl,--disable-new-dtags -Wl,-rpath,"\$ORIGIN/root/$LIB" -o "$OUT/libjaxgen_onednn.so.tmp"
mv "$OUT/libjaxgen_onednn.so.tmp" "$OUT/libjaxgen_onednn.so"
