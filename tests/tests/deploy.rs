//! deploy/ tested, not just shipped: the image is built with podman (offline, FROM scratch)
//! and run with exactly the DaemonSet's pod settings (`podman run` translated from its pod
//! template: podman 4.3's `kube play` ignores hostPID), both the privileged and the
//! least-privilege variant; inside, the recorder records a neighbour
//! container's commands with the right container id. The manifests validate against the
//! Kubernetes schemas (kubernetes-validate, offline); the systemd unit passes
//! `systemd-analyze verify`.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use aftertrace_tests::{inspector_json, podman, repo_root, require_root, target_bin, RECORDER_BIN};
use serde_norway::Value;

fn kubernetes_dir() -> PathBuf {
    repo_root().join("deploy/kubernetes")
}

fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(yaml_files(&path));
        } else if path.extension().is_some_and(|x| x == "yaml") {
            out.push(path);
        }
    }
    out.sort();
    out
}

#[test]
fn manifests_validate_against_the_kubernetes_schemas() {
    let files = yaml_files(&kubernetes_dir());
    let (kustomizations, resources): (Vec<_>, Vec<_>) = files
        .iter()
        .partition(|p| p.file_name().is_some_and(|n| n == "kustomization.yaml"));
    assert!(resources.len() >= 7, "{resources:?}");
    let out = Command::new("kubernetes-validate")
        .args(["--strict", "--quiet"])
        .args(&resources)
        .output()
        .expect("kubernetes-validate (scripts/setup.sh installs it from PyPI)");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("ERROR"), "{text}");
    // The one kind without a schema here is the Prometheus Operator's (a CRD).
    for line in text.lines().filter(|l| l.contains("Couldn't find schema")) {
        assert!(line.contains("ServiceMonitor"), "{line}");
    }

    // No kustomize binary here: check what it would load. Every resource a kustomization
    // names exists (a file, or a directory with its own kustomization), inside deploy/.
    for k in &kustomizations {
        let doc: Value = serde_norway::from_str(&std::fs::read_to_string(k).unwrap()).unwrap();
        assert_eq!(doc["kind"], "Kustomization", "{}", k.display());
        let dir = k.parent().unwrap();
        for r in doc["resources"].as_sequence().expect("resources") {
            let r = dir.join(r.as_str().unwrap());
            assert!(
                r.is_file() || r.join("kustomization.yaml").is_file(),
                "{} names {}, which is missing",
                k.display(),
                r.display()
            );
        }
    }
}

#[test]
fn the_systemd_unit_verifies() {
    let unit =
        std::fs::read_to_string(repo_root().join("deploy/systemd/aftertrace-recorder.service"))
            .unwrap();
    // verify checks that ExecStart's binary exists: point it at the built one.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aftertrace-recorder.service");
    std::fs::write(
        &path,
        unit.replace(
            "/usr/local/bin/aftertrace-recorder",
            target_bin(RECORDER_BIN).to_str().unwrap(),
        ),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        !text.contains("aftertrace-recorder.service:"),
        "warnings about the unit: {text}"
    );
}

/// The container removed when the test ends, passed or not.
struct Running {
    name: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = podman::podman_command()
            .args(["rm", "-f", "-t", "5", &self.name])
            .output();
    }
}

fn podman_ok(args: &[&str]) -> String {
    let out = podman::podman_command()
        .args(args)
        .output()
        .expect("podman");
    assert!(
        out.status.success(),
        "podman {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn build_image() -> String {
    static IMAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let bin_dir = target_bin(RECORDER_BIN).parent().unwrap().to_owned();
            let tag = "localhost/aftertrace-deploy-test:latest";
            // The previous build's image, so that rebuilds leave no untagged images behind.
            let _ = podman::podman_command().args(["rmi", "-f", tag]).output();
            let out = Command::new("bash")
                .arg(repo_root().join("deploy/container/build.sh"))
                .arg("--bin-dir")
                .arg(&bin_dir)
                .args(["--tag", tag])
                .env("CONTAINERS_CONF", podman::containers_conf().unwrap())
                .output()
                .expect("build.sh");
            assert!(
                out.status.success(),
                "deploy/container/build.sh: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            tag.to_owned()
        })
        .clone()
}

/// `podman run` arguments that give a container exactly what the DaemonSet of `variant`
/// gives its pod: pid namespace, security context, mounts (hostPath, the ConfigMap, the
/// in-memory emptyDir), env and args. podman 4.3's `kube play` ignores `hostPID`, so the
/// template is translated instead; a setting the translation does not know fails the test
/// rather than being dropped. Host paths this machine lacks (another runtime's state) are
/// left out, as a node without that runtime has them empty; the captures hostPath is the
/// test's directory.
fn podman_run_args(
    variant: &str,
    image: &str,
    captures: &Path,
    config_dir: &Path,
    name: &str,
) -> Vec<String> {
    let ds: Value = serde_norway::from_str(
        &std::fs::read_to_string(kubernetes_dir().join(variant).join("daemonset.yaml")).unwrap(),
    )
    .unwrap();
    let spec = &ds["spec"]["template"]["spec"];
    let container = &spec["containers"][0];
    let mut args: Vec<String> = vec!["run".into(), "-d".into(), "--name".into(), name.into()];
    // No pod network here; the listener is not under test.
    args.extend(["--network".into(), "none".into()]);
    if spec["hostPID"] == true {
        args.extend(["--pid".into(), "host".into()]);
    }
    let push = |args: &mut Vec<String>, a: &str, b: String| {
        args.push(a.into());
        args.push(b);
    };
    for (key, value) in container["securityContext"]
        .as_mapping()
        .expect("securityContext")
    {
        match (key.as_str().unwrap(), value) {
            ("privileged", Value::Bool(true)) => args.push("--privileged".into()),
            ("privileged", Value::Bool(false)) => {}
            ("readOnlyRootFilesystem", Value::Bool(true)) => args.push("--read-only".into()),
            ("allowPrivilegeEscalation", Value::Bool(false)) => {
                push(&mut args, "--security-opt", "no-new-privileges".into())
            }
            ("runAsUser", v) => push(&mut args, "--user", v.as_u64().unwrap().to_string()),
            ("capabilities", caps) => {
                for c in caps["drop"].as_sequence().into_iter().flatten() {
                    push(&mut args, "--cap-drop", c.as_str().unwrap().into());
                }
                for c in caps["add"].as_sequence().into_iter().flatten() {
                    push(&mut args, "--cap-add", c.as_str().unwrap().into());
                }
            }
            ("seccompProfile", p) if p["type"] == "Unconfined" => {
                push(&mut args, "--security-opt", "seccomp=unconfined".into())
            }
            ("appArmorProfile", p) if p["type"] == "Unconfined" => {
                push(&mut args, "--security-opt", "apparmor=unconfined".into())
            }
            (k, v) => panic!("{variant}: securityContext {k}: {v:?} has no podman translation"),
        }
    }
    let volumes = spec["volumes"].as_sequence().expect("volumes");
    for mount in container["volumeMounts"]
        .as_sequence()
        .expect("volumeMounts")
    {
        let volume = volumes
            .iter()
            .find(|v| v["name"] == mount["name"])
            .unwrap_or_else(|| panic!("no volume {:?}", mount["name"]));
        let at = mount["mountPath"].as_str().unwrap();
        let ro = if mount["readOnly"] == true { ":ro" } else { "" };
        if let Some(host) = volume["hostPath"]["path"].as_str() {
            let host = if volume["name"] == "captures" {
                captures.to_str().unwrap()
            } else {
                host
            };
            if Path::new(host).exists() {
                push(&mut args, "-v", format!("{host}:{at}{ro}"));
            }
        } else if volume["configMap"].is_mapping() {
            push(&mut args, "-v", format!("{}:{at}:ro", config_dir.display()));
        } else if volume["secret"]["optional"] == true {
            // An optional Secret this test does not create: kubelet mounts nothing of it.
            continue;
        } else if volume["emptyDir"]["medium"] == "Memory" {
            push(&mut args, "--tmpfs", format!("{at}:rw,mode=0700,size=1m"));
        } else {
            panic!("{variant}: volume {volume:?} has no podman translation");
        }
    }
    for env in container["env"].as_sequence().into_iter().flatten() {
        let key = env["name"].as_str().unwrap();
        // The downward API's node name: this test's own.
        let value = env["value"].as_str().unwrap_or(name);
        push(&mut args, "-e", format!("{key}={value}"));
    }
    args.push(image.into());
    for a in container["args"].as_sequence().expect("args") {
        args.push(a.as_str().unwrap().into());
    }
    args
}

/// The base ConfigMap's recorder.toml, with a window short enough for a test and no
/// built-in rules, in `dir` as the ConfigMap volume would hold it.
fn write_test_config(dir: &Path) {
    let cm: Value = serde_norway::from_str(
        &std::fs::read_to_string(kubernetes_dir().join("base/configmap.yaml")).unwrap(),
    )
    .unwrap();
    let text = cm["data"]["recorder.toml"].as_str().unwrap();
    assert!(text.contains("before = \"30s\"") && text.contains("after = \"10s\""));
    let text = text
        .replace("before = \"30s\"", "before = \"3s\"")
        .replace("after = \"10s\"", "after = \"1s\"\nrules = \"none\"");
    std::fs::write(dir.join("recorder.toml"), text).unwrap();
}

/// Each variant records the whole node: one at a time.
static ONE_POD: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn the_daemonset_records_a_neighbour_container(variant: &str) {
    require_root();
    let _one = ONE_POD.lock().unwrap_or_else(|e| e.into_inner());
    podman::check_podman().expect("podman works");
    let neighbour_image = podman::ensure_test_image().expect("test image");
    let image = build_image();
    let dir = tempfile::tempdir().unwrap();
    let captures = dir.path().join("captures");
    std::fs::create_dir(&captures).unwrap();
    let name = format!("aftertrace-deploy-{variant}-{}", std::process::id());
    let config_dir = dir.path().join("config");
    std::fs::create_dir(&config_dir).unwrap();
    write_test_config(&config_dir);
    let args = podman_run_args(variant, &image, &captures, &config_dir, &name);
    let running = Running { name: name.clone() };
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    podman_ok(&argv);
    let container = name.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = podman::podman_command()
            .args(["logs", &container])
            .output()
            .unwrap();
        let log = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        if log.contains("aftertrace-recorder: recording") {
            break;
        }
        let state = podman_ok(&["inspect", "--format", "{{.State.Status}}", &container]);
        assert!(
            Instant::now() < deadline && !state.contains("exited"),
            "the recorder in {variant} did not start ({state}): {log}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    // The security settings podman applied are the manifest's.
    let inspect: serde_json::Value =
        serde_json::from_str(&podman_ok(&["inspect", &container])).unwrap();
    let host_config = &inspect[0]["HostConfig"];
    // hostPID: the recorder is in the host's pid namespace (podman reports the pod's
    // shared namespaces, not this, in PidMode).
    let pid = inspect[0]["State"]["Pid"]
        .as_u64()
        .expect("the recorder's pid");
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/ns/pid")).unwrap(),
        std::fs::read_link("/proc/self/ns/pid").unwrap(),
        "{variant}: hostPID"
    );
    if variant == "privileged" {
        assert_eq!(host_config["Privileged"], true);
    } else {
        assert_eq!(host_config["Privileged"], false);
        let caps = inspect[0]["EffectiveCaps"].to_string();
        for cap in ["CAP_BPF", "CAP_PERFMON", "CAP_SYS_PTRACE"] {
            assert!(caps.contains(cap), "{variant}: {caps}");
        }
        assert!(!caps.contains("CAP_SYS_ADMIN"), "{variant}: {caps}");
    }

    // The probes, as kubelet would run them.
    let ds: Value = serde_norway::from_str(
        &std::fs::read_to_string(kubernetes_dir().join(variant).join("daemonset.yaml")).unwrap(),
    )
    .unwrap();
    for probe in ["readinessProbe", "livenessProbe"] {
        let command: Vec<&str> = ds["spec"]["template"]["spec"]["containers"][0][probe]["exec"]
            ["command"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{variant}: {probe} runs a command"))
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        let mut args = vec!["exec", container.as_str()];
        args.extend(command);
        podman_ok(&args);
    }

    let marker = format!("neighbour-of-{variant}");
    let run = podman::run_in_container(&neighbour_image, &["sh", "-c", &format!("echo {marker}")])
        .expect("the neighbour container");
    assert!(run.status.success(), "{}", run.stderr_text());
    std::thread::sleep(Duration::from_millis(500));
    podman_ok(&[
        "exec",
        &container,
        "/usr/bin/aftertrace-recorder",
        "trigger",
        "--reason",
        "deploy-test",
    ]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let capture = loop {
        let found = std::fs::read_dir(&captures)
            .unwrap()
            .flatten()
            .find_map(|e| {
                let p = e.path();
                let sealed = p.extension().is_some_and(|x| x == "atcap")
                    && Path::new(&format!("{}.sha256", p.display())).exists();
                sealed.then_some(p)
            });
        if let Some(p) = found {
            break p;
        }
        assert!(Instant::now() < deadline, "no capture sealed in {variant}");
        std::thread::sleep(Duration::from_millis(300));
    };
    drop(running);

    let commands = inspector_json(&capture, "commands");
    let ours = commands
        .iter()
        .find(|c| {
            c["argv"].as_array().is_some_and(|a| {
                a.iter()
                    .any(|x| x.as_str() == Some(&format!("echo {marker}")))
            }) && c["container_id"].is_string()
        })
        .unwrap_or_else(|| panic!("{variant}: the neighbour's command is not in the capture"));
    assert_eq!(ours["container_id"], run.id.as_str(), "{variant}: {ours}");
}

#[test]
fn the_privileged_daemonset_records_a_neighbour_container() {
    the_daemonset_records_a_neighbour_container("privileged");
}

#[test]
fn the_least_privilege_daemonset_records_a_neighbour_container() {
    the_daemonset_records_a_neighbour_container("least-privilege");
}
