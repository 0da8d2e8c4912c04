#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test aftertrace.
# Idempotent and quick when everything is present. Run as root.
set -euo pipefail

log() { printf 'setup: %s\n' "$*" >&2; }

need_apt=()
for pair in podman:podman runc:runc busybox-static:/bin/busybox bash-static:/bin/bash-static \
            strace:strace bpftool:bpftool util-linux:setpriv jq:jq gcc:gcc \
            libc6-dev:/usr/lib/x86_64-linux-gnu/libc.a tmux:tmux python3-minimal:/usr/bin/python3 \
            sysdig:sysdig catatonit:/usr/bin/catatonit binutils:objcopy; do
  pkg=${pair%%:*}; probe=${pair#*:}
  if [[ $probe == /* ]]; then [[ -e $probe ]] || need_apt+=("$pkg")
  else command -v "$probe" >/dev/null 2>&1 || need_apt+=("$pkg"); fi
done
if ((${#need_apt[@]})); then
  log "installing apt packages: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# Nightly with rust-src builds the eBPF crate (-Z build-std=core).
if ! rustup toolchain list | grep -q '^nightly'; then
  log "installing the nightly toolchain"
  rustup toolchain install nightly --profile minimal
fi
if ! rustup component list --toolchain nightly --installed | grep -q '^rust-src'; then
  log "adding rust-src to nightly"
  rustup component add rust-src --toolchain nightly
fi

# bpf-linker must link the same LLVM major as nightly's rustc; the nightly ships that
# libLLVM, so point bpf-linker's build at it instead of the system LLVM.
if ! command -v bpf-linker >/dev/null 2>&1 && [[ ! -x $HOME/.cargo/bin/bpf-linker ]]; then
  sysroot=$(rustc +nightly --print sysroot)
  lib=$(find "$sysroot/lib" -maxdepth 1 -name 'libLLVM.so.*' | head -n1)
  [[ -n $lib ]] || { log "no libLLVM in $sysroot/lib"; exit 1; }
  major=$(basename "$lib" | sed -E 's/^libLLVM\.so\.([0-9]+).*/\1/')
  prefix=$(mktemp -d)
  mkdir -p "$prefix/lib"
  ln -s "$lib" "$prefix/lib/libLLVM.so"
  log "building bpf-linker against nightly's LLVM $major (about a minute)"
  LLVM_PREFIX=$prefix cargo +nightly install --locked bpf-linker --version '^0.13' \
    --no-default-features --features "llvm-$major"
  rm -rf "$prefix"
fi

# Python tools of the upload and deployment tests: moto's S3 server (and boto3, its client)
# on loopback, kubernetes-validate for the manifests (offline schemas).
if ! python3 -c 'import moto.server, boto3, flask, kubernetes_validate' 2>/dev/null; then
  if ! python3 -m pip --version >/dev/null 2>&1; then
    log "installing python3-pip"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends python3-pip >/dev/null
  fi
  log "installing moto[server] and kubernetes-validate from PyPI"
  python3 -m pip install -q 'moto[server]' kubernetes-validate 2>/dev/null \
    || python3 -m pip install -q --break-system-packages 'moto[server]' kubernetes-validate
fi

# Classic tracepoints need tracefs (raw tracepoints do not); mount it so tools and
# the recorder's diagnostics find it.
if [[ ! -e /sys/kernel/tracing/events ]]; then
  mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || log "warning: could not mount tracefs"
fi
# DuckDB (PyPI) reads the Parquet tables of `export --format parquet` in
# tests/tests/export_parquet.rs: the oracle a fleet would query them with.
if ! python3 -c 'import duckdb' >/dev/null 2>&1; then
  log "installing duckdb (pip)"
  python3 -m pip install -q duckdb || python3 -m pip install -q --break-system-packages duckdb
fi
log "ready"
