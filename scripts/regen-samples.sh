#!/usr/bin/env bash
# Regenerates samples/: records each sample capture again with the real recorder, cuts it
# down to its own workload, and rewrites the expected outputs that the golden test
# (inspector/tests/golden.rs) compares against. This is the only way samples/ changes.
#
#   scripts/regen-samples.sh                  record every sample, then the expected files
#   scripts/regen-samples.sh --expected-only  keep the captures; rewrite the expected files
#                                             (after a deliberate change of the output)
#
# Recording needs root (eBPF), podman and the test image (built here through the test
# helpers if missing). Review the diff of samples/ before committing: the captures hold this
# machine's hostname, kernel, pids and times, and nothing of its other processes (see
# inspector/examples/scrub_sample.rs).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
samples="$root/samples"

bless() {
    echo "==> writing the expected files"
    AFTERTRACE_BLESS=1 cargo test -q -p aftertrace-inspector --test golden
    chmod 644 "$samples"/*.atcap
    find "$samples" -name '*.expected' -type d -exec chmod 755 {} +
    find "$samples" -path '*.expected/*' -type f -exec chmod 644 {} +
}

if [[ "${1:-}" == "--expected-only" ]]; then
    bless
    exit 0
elif [[ $# -gt 0 ]]; then
    sed -n '2,14p' "$0" >&2
    exit 64
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "regen-samples: recording needs root (it loads eBPF programs); run with sudo -E" >&2
    exit 77
fi

echo "==> building"
cargo build -q --workspace
cargo build -q -p aftertrace-inspector --example scrub_sample
recorder="$root/target/debug/aftertrace-recorder"
scrub="$root/target/debug/examples/scrub_sample"

work=$(mktemp -d /tmp/aftertrace-samples.XXXXXX)
trap 'rm -rf "$work"' EXIT

# --- host-shell: a shell session on the host ------------------------------------------
# A process that began before the window (the snapshot lists it) waits on a fifo that the
# workload writes to, then forks a command during the window and execs in place.
echo "==> recording host-shell"
mkfifo "$work/go"
# shellcheck disable=SC2016 # expanded by the started shell, not here
bash -c 'read -r _ < "$1"; cat /etc/hostname > /dev/null; sleep 0.3' early "$work/go" &
early=$!
export T="$work"
# shellcheck disable=SC2016 # expanded by the recorded shell, not here
workload='cd /tmp
echo go > "$T/go"
cat /etc/hostname > /dev/null
cat /etc/shadow > /dev/null
printf "#!/bin/sh\necho hello from a dropped script\n" > "$T/drop.sh"
chmod +x "$T/drop.sh"
"$T/drop.sh" | tr a-z A-Z > /dev/null
(exit 3)
{ sleep 5 & sleep 0.1; kill -KILL $!; wait $!; } 2> /dev/null
setpriv --reuid 65534 --regid 65534 --clear-groups cat /etc/hostname > /dev/null
{ echo hi > /dev/tcp/127.0.0.1/9; } 2> /dev/null
sleep 1
true'
# The C locale: no locale files opened by every command (smaller sample).
LC_ALL=C "$recorder" record --snaplen 64 -o "$work/host-shell.raw.atcap" -- bash -c "$workload" &
rec=$!
wait "$rec"
wait "$early"
# Memory and signal bookkeeping that every program start makes is left out (smaller sample).
"$scrub" "$work/host-shell.raw.atcap" "$samples/host-shell.atcap" --root "$rec" --root "$early" \
    --keep-syscalls 'not evt.type in (mmap, mprotect, munmap, brk, rt_sigaction, rt_sigprocmask,
        arch_prctl, set_tid_address, set_robust_list, rseq, prlimit64, getrandom, futex)'


# --- container: a podman container's commands --------------------------------------------
echo "==> recording container"
if ! podman images --format '{{.Repository}}' | grep -qx localhost/aftertrace-test; then
    echo "    building the test image through the test helpers"
    cargo test -q -p aftertrace-tests --test podman_helpers ensure_test_image_is_idempotent
fi
image=$(podman images --format '{{.Repository}}:{{.Tag}}' localhost/aftertrace-test | head -1)
# The test helpers' podman settings (tests/src/podman.rs): runc, no default ulimits.
cat > "$work/containers.conf" <<'EOF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF="$work/containers.conf"
podman rm --force --ignore --time 0 aftertrace-sample > /dev/null
"$recorder" record --snaplen 64 -o "$work/container.raw.atcap" -- \
    podman run --rm --network none --name aftertrace-sample "$image" \
    bash -c 'cat /etc/hostname > /dev/null; id -un > /dev/null; echo x > /tmp/a; mv /tmp/a /tmp/b' &
rec=$!
wait "$rec"
# podman's own Go runtime makes thousands of syscalls: keep the container's workload's
# (and every process's fork, exec and exit) so the sample stays small.
"$scrub" "$work/container.raw.atcap" "$samples/container.atcap" --root "$rec" \
    --keep-syscalls 'container.id != host and proc.name in (bash, cat, id, mv)'

bless
echo "==> done; review \`git diff --stat samples/\` before committing"
