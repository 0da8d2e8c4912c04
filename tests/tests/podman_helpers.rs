//! The podman helpers themselves, against real podman: the image builds, a
//! container's id matches its cgroup, and no container outlives its test.

use std::time::Instant;

use aftertrace_tests::podman::{
    self, ensure_test_image, is_container_id, podman_command, run_in_container, start_container,
    CONTAINER_NAME_PREFIX,
};
use aftertrace_tests::require_root;

/// Builds (or reuses) the image after checking that podman works, so a
/// missing package fails with the install hint rather than a podman error.
fn test_image() -> String {
    require_root();
    if let Err(e) = podman::check_podman() {
        panic!("{e:#}");
    }
    let started = Instant::now();
    let image = ensure_test_image().unwrap_or_else(|e| panic!("{e:#}"));
    eprintln!("ensure_test_image: {image} in {:?}", started.elapsed());
    image
}

/// Every container podman knows of, running or not, as `<full id> <name>`.
fn all_containers() -> String {
    let output = podman_command()
        .args([
            "ps",
            "--all",
            "--no-trunc",
            "--format",
            "{{.ID}} {{.Names}}",
        ])
        .output()
        .expect("running podman ps");
    assert!(
        output.status.success(),
        "podman ps failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("podman ps prints UTF-8")
}

fn assert_gone(id: &str, name: &str) {
    let containers = all_containers();
    assert!(
        !containers.contains(id) && !containers.contains(name),
        "container {name} ({id}) still exists:\n{containers}"
    );
}

#[test]
fn run_in_container_reports_full_id_matching_cgroup_and_removes_it() {
    let image = test_image();
    let run = run_in_container(
        &image,
        &["bash", "-c", "id -u; cat /proc/self/cgroup; hostname"],
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    let stdout = run.stdout_text();
    assert!(
        run.status.success(),
        "container failed with {}: stdout {stdout:?}, stderr {:?}",
        run.status,
        run.stderr_text()
    );

    assert!(is_container_id(&run.id), "not a full id: {:?}", run.id);
    assert!(run.name.starts_with(CONTAINER_NAME_PREFIX), "{}", run.name);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.first(), Some(&"0"), "uid is not 0: {stdout:?}");
    let libpod = format!("libpod-{}", run.id);
    assert!(
        lines.iter().any(|line| line.contains(&libpod)),
        "no cgroup line contains {libpod}: {stdout:?}"
    );
    // Podman sets the hostname to the short id.
    assert_eq!(lines.last(), Some(&run.short_id()), "{stdout:?}");

    assert_gone(&run.id, &run.name);
}

#[test]
fn image_has_users_tmp_and_shells() {
    let image = test_image();
    let script = "id -u app; id -u nobody; stat -c %a /tmp; readlink /bin/sh; \
                  bash -c 'echo $BASH_VERSION' | cut -d. -f1";
    let run = run_in_container(&image, &["sh", "-c", script]).unwrap_or_else(|e| panic!("{e:#}"));
    assert!(run.status.success(), "{}", run.stderr_text());
    let stdout = run.stdout_text();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        ["1000", "65534", "1777", "busybox", "5"],
        "{stdout:?}"
    );
}

#[test]
fn nonzero_exit_is_a_status_not_an_error() {
    let image = test_image();
    let run = run_in_container(&image, &["sh", "-c", "exit 7"]).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(run.status.code(), Some(7));
    assert_gone(&run.id, &run.name);
}

#[test]
fn detached_container_execs_waits_and_is_removed_on_drop() {
    let image = test_image();
    let (id, name) = {
        let container = start_container(&image, &["sh", "-c", "sleep 1; exit 3"])
            .unwrap_or_else(|e| panic!("{e:#}"));
        assert!(is_container_id(container.id()), "{}", container.id());

        let exec = container
            .exec(&["cat", "/proc/self/cgroup"])
            .unwrap_or_else(|e| panic!("{e:#}"));
        let cgroup = String::from_utf8_lossy(&exec.stdout);
        assert!(exec.status.success(), "{exec:?}");
        assert!(
            cgroup.contains(&format!("libpod-{}", container.id())),
            "{cgroup:?}"
        );

        let status = container.wait().unwrap_or_else(|e| panic!("{e:#}"));
        assert_eq!(status.code(), Some(3));
        (container.id().to_owned(), container.name().to_owned())
    };
    assert_gone(&id, &name);
}

#[test]
fn dropping_a_running_container_removes_it() {
    let image = test_image();
    let container = start_container(&image, &["sleep", "600"]).unwrap_or_else(|e| panic!("{e:#}"));
    let (id, name) = (container.id().to_owned(), container.name().to_owned());
    assert!(all_containers().contains(&id));
    drop(container);
    assert_gone(&id, &name);
}

#[test]
fn ensure_test_image_is_idempotent() {
    let first = test_image();
    assert_eq!(
        first,
        ensure_test_image().unwrap_or_else(|e| panic!("{e:#}"))
    );
}

/// The container name that an error message of the helpers mentions.
fn name_in(message: &str) -> &str {
    let start = message
        .find(CONTAINER_NAME_PREFIX)
        .unwrap_or_else(|| panic!("no container name in {message:?}"));
    let len = CONTAINER_NAME_PREFIX.len() + 16;
    &message[start..start + len]
}

#[test]
fn a_container_past_its_timeout_is_killed_and_removed() {
    let image = test_image();
    let started = Instant::now();
    let err = podman::run_in_container_with_timeout(
        &image,
        &["sleep", "120"],
        std::time::Duration::from_secs(2),
    )
    .expect_err("sleep 120 must time out after 2 s");
    let message = format!("{err:#}");
    assert!(message.contains("killed and removed"), "{message}");
    assert!(
        started.elapsed().as_secs() < 60,
        "took {:?}",
        started.elapsed()
    );
    let name = name_in(&message);
    assert_gone(name, name);
}

#[test]
fn a_container_that_cannot_start_is_not_left_behind() {
    let image = test_image();
    let err =
        start_container(&image, &["/no/such/program"]).expect_err("a missing program cannot start");
    let message = format!("{err:#}");
    let name = name_in(&message);
    assert_gone(name, name);
}
