#!/usr/bin/env bash
# Builds the aftertrace image with podman, offline: lays out a rootfs of the two built
# binaries (debug symbols stripped) and the shared libraries they link (from ldd), then
# `podman build` FROM scratch over it.
#
#   deploy/container/build.sh [--profile release|debug | --bin-dir DIR] [--tag IMAGE]
#
# Defaults: the release binaries (target/release), tag localhost/aftertrace:latest. Build them first
# (`cargo build --release -p aftertrace-recorder -p aftertrace-inspector`).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
profile=release
bin_dir=
tag=localhost/aftertrace:latest
while (($#)); do
  case $1 in
    --profile) profile=$2; shift 2 ;;
    --bin-dir) bin_dir=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    *) echo "build.sh: unknown argument $1 (use --profile, --bin-dir, --tag)" >&2; exit 64 ;;
  esac
done
target=${bin_dir:-${CARGO_TARGET_DIR:-$root/target}/$profile}
for bin in aftertrace-recorder aftertrace-inspector; do
  [[ -x $target/$bin ]] || {
    echo "build.sh: $target/$bin is missing: cargo build --profile ${profile/debug/dev} -p ${bin}" >&2
    exit 66
  }
done

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
rootfs=$ctx/rootfs
mkdir -p "$rootfs/usr/bin" "$rootfs/etc/aftertrace" "$rootfs/tmp"
install -d -m 0700 "$rootfs/var/lib/aftertrace" "$rootfs/var/lib/aftertrace/captures" "$rootfs/run/aftertrace"
chmod 1777 "$rootfs/tmp"
for bin in aftertrace-recorder aftertrace-inspector; do
  objcopy --strip-debug "$target/$bin" "$rootfs/usr/bin/$bin"
  # Every library the dynamic loader would load, at the same path, and the loader itself.
  ldd "$target/$bin" | awk '/=> \//{print $3} /^\t\//{print $1}' | while read -r lib; do
    mkdir -p "$rootfs$(dirname "$lib")"
    cp -L "$lib" "$rootfs$lib"
  done
done
# The loader's canonical path (ldd may report it through a /lib64 link).
if [[ -e /lib64/ld-linux-x86-64.so.2 && ! -e $rootfs/lib64/ld-linux-x86-64.so.2 ]]; then
  mkdir -p "$rootfs/lib64"; cp -L /lib64/ld-linux-x86-64.so.2 "$rootfs/lib64/"
fi
cp "$here/recorder.toml" "$rootfs/etc/aftertrace/recorder.toml"
cp "$here/Containerfile" "$ctx/Containerfile"
podman build --quiet --network none -t "$tag" -f "$ctx/Containerfile" "$ctx" >/dev/null
echo "$tag"
