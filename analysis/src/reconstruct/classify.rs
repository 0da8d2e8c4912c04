//! What a program and a path are: interpreters and where their program comes from (a
//! script operand, `-c`, standard input), persistence locations, terminals, and paths
//! resolved against a working directory.

/// The interpreters whose input is a program, by the key [`interpreter_key`] gives (the
/// recorder keeps these processes' reads and writes whole, up to 8 KiB per syscall): one
/// list with the recorder's, in capture-format's vocabulary.
pub use capture_format::vocab::INTERPRETERS;
use capture_format::vocab::SHELLS;

pub fn basename(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&c| c == b'/') {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// A program's family name: its basename up to the first digit or dot (`python3.11` ->
/// `python`), as the recorder computes it.
pub fn interpreter_key(path: &[u8]) -> String {
    let base = basename(path);
    let end = base
        .iter()
        .position(|c| c.is_ascii_digit() || *c == b'.')
        .unwrap_or(base.len());
    String::from_utf8_lossy(&base[..end]).into_owned()
}

fn is_interpreter(key: &str) -> bool {
    INTERPRETERS.contains(&key)
}

/// The interpreter an exec started, if it started one: by the exec'd file, else by
/// `argv[0]` (a `#!` script is exec'd by its own path with the interpreter in `argv[0]`;
/// busybox runs applets through `/proc/self/exe` or its own name with the applet in
/// `argv[0]`).
pub fn interpreter_of(filename: &[u8], argv: &[Vec<u8>]) -> Option<String> {
    let by_file = interpreter_key(filename);
    let arg0 = argv.first().map(|a| interpreter_key(a));
    let arg1 = argv.get(1).map(|a| interpreter_key(a));
    if by_file == "busybox" || by_file == "exe" || by_file.is_empty() {
        return match arg0.as_deref() {
            Some("busybox") => arg1.filter(|k| is_interpreter(k) && k != "busybox"),
            Some(k) if is_interpreter(k) => Some(k.to_owned()),
            _ => None,
        };
    }
    if is_interpreter(&by_file) {
        return Some(by_file);
    }
    arg0.filter(|k| is_interpreter(k) && k != "busybox")
}

/// Where an interpreter takes its program from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A program given on the command line (`sh -c`, `perl -e`, `python -c`...).
    Argument(Vec<u8>),
    /// A script file named on the command line.
    Script(Vec<u8>),
    /// Standard input (no operand, `-s`, `-`).
    Stdin,
    /// Something else (`python -m module`, `--version`...).
    Other,
}

/// Reads an interpreter's command line (`argv[0]` included).
pub fn mode_of(interpreter: &str, argv: &[Vec<u8>]) -> Mode {
    let args = argv.get(1..).unwrap_or(&[]);
    // busybox sh ...: the applet is argv[1].
    let args = if argv
        .first()
        .is_some_and(|a| interpreter_key(a) == "busybox")
    {
        args.get(1..).unwrap_or(&[])
    } else {
        args
    };
    let shell = SHELLS.contains(&interpreter);
    let (code_flags, value_flags): (&[&str], &[&str]) = match interpreter {
        _ if shell => (
            &["-c"],
            &["-o", "+o", "-O", "+O", "--rcfile", "--init-file"],
        ),
        "python" => (&["-c"], &["-W", "-X", "-Q"]),
        "perl" => (&["-e", "-E"], &["-I", "-M", "-m"]),
        "ruby" => (&["-e"], &["-I", "-r"]),
        "node" | "nodejs" => (&["-e", "--eval", "-p", "--print"], &["-r", "--require"]),
        "php" => (&["-r"], &["-c", "-d"]),
        "lua" | "luajit" => (&["-e"], &["-l"]),
        "pwsh" => (&["-c", "-Command", "-command", "-EncodedCommand"], &[]),
        _ => (&[], &[]),
    };
    let mut i = 0;
    let mut code_next = false;
    let mut stdin = false;
    while i < args.len() {
        let a = &args[i];
        let s = String::from_utf8_lossy(a);
        if s == "--" {
            i += 1;
            break;
        }
        if code_flags.contains(&s.as_ref()) {
            if shell {
                // sh -c CMD: the command is the first operand after the options.
                code_next = true;
                i += 1;
                continue;
            }
            return args
                .get(i + 1)
                .map_or(Mode::Other, |c| Mode::Argument(c.clone()));
        }
        if value_flags.contains(&s.as_ref()) {
            i += 2;
            continue;
        }
        if interpreter == "python" && s == "-m" {
            return Mode::Other;
        }
        if interpreter == "pwsh" && (s == "-File" || s == "-file") {
            return args
                .get(i + 1)
                .map_or(Mode::Other, |c| Mode::Script(c.clone()));
        }
        if s == "-" {
            return Mode::Stdin;
        }
        if s.starts_with('-') || (shell && s.starts_with('+') && s.len() > 1) {
            if shell && !s.starts_with("--") {
                // Combined short options: -ec, -xs.
                if s[1..].contains('c') && s.starts_with('-') {
                    code_next = true;
                }
                if s[1..].contains('s') && s.starts_with('-') {
                    stdin = true;
                }
            }
            if (interpreter == "perl" || interpreter == "ruby")
                && s.starts_with("-e")
                && s.len() > 2
            {
                return Mode::Argument(a[2..].to_vec());
            }
            if interpreter == "python" && s.starts_with("-c") && s.len() > 2 {
                return Mode::Argument(a[2..].to_vec());
            }
            if version_or_help(&s) {
                return Mode::Other;
            }
            i += 1;
            continue;
        }
        break;
    }
    if code_next {
        return args
            .get(i)
            .map_or(Mode::Other, |c| Mode::Argument(c.clone()));
    }
    if stdin {
        return Mode::Stdin;
    }
    match args.get(i) {
        Some(script) => Mode::Script(script.clone()),
        None => Mode::Stdin,
    }
}

fn version_or_help(s: &str) -> bool {
    matches!(s, "--version" | "-V" | "--help" | "-h" | "-v")
}

/// `path` resolved against `cwd` (when relative) and normalised lexically (`.`, `..`,
/// repeated slashes). A relative path with no known cwd stays relative.
pub fn resolve(cwd: Option<&[u8]>, path: &[u8]) -> Vec<u8> {
    let joined: Vec<u8> = if path.first() == Some(&b'/') {
        path.to_vec()
    } else if let Some(cwd) = cwd {
        let mut j = cwd.to_vec();
        j.push(b'/');
        j.extend_from_slice(path);
        j
    } else {
        return path.to_vec();
    };
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in joined.split(|&c| c == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    let mut out = Vec::with_capacity(joined.len());
    for p in parts {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// Pseudo file systems and devices: written "files" there are not artifacts.
pub fn is_pseudo(path: &[u8]) -> bool {
    [&b"/proc/"[..], b"/sys/", b"/dev/"]
        .iter()
        .any(|p| path.starts_with(p))
        || path == b"/proc"
        || path == b"/sys"
        || path == b"/dev"
}

/// A terminal device path (`/dev/tty` itself excepted: it names the caller's own).
pub fn is_tty_path(path: &[u8]) -> bool {
    path.starts_with(b"/dev/pts/")
        || path == b"/dev/console"
        || (path.starts_with(b"/dev/tty") && path.len() > 8)
}

fn in_home(path: &str, names: &[&str]) -> bool {
    let Some(rest) = path.strip_prefix("/root/").or_else(|| {
        path.strip_prefix("/home/")
            .and_then(|r| r.split_once('/').map(|x| x.1))
    }) else {
        return false;
    };
    names.contains(&rest)
}

/// The kind of persistence a path is a location for, if it is one.
pub fn persistence(path: &[u8]) -> Option<&'static str> {
    let p = String::from_utf8_lossy(path);
    let p = p.as_ref();
    let under = |dirs: &[&str]| dirs.iter().any(|d| p.starts_with(d) && p.len() > d.len());
    if p == "/etc/crontab"
        || p == "/etc/anacrontab"
        || under(&[
            "/etc/cron.d/",
            "/etc/cron.hourly/",
            "/etc/cron.daily/",
            "/etc/cron.weekly/",
            "/etc/cron.monthly/",
            "/etc/crontabs/",
            "/var/spool/cron/",
            "/var/spool/at/",
        ])
    {
        return Some("cron");
    }
    if under(&[
        "/etc/systemd/",
        "/lib/systemd/system/",
        "/usr/lib/systemd/system/",
        "/run/systemd/system/",
        "/usr/lib/systemd/user/",
    ]) || ((p.starts_with("/root/") || p.starts_with("/home/"))
        && p.contains("/.config/systemd/"))
    {
        return Some("systemd");
    }
    if p == "/etc/ld.so.preload" || under(&["/etc/ld.so.conf.d/"]) {
        return Some("ld-preload");
    }
    if basename(path) == b"authorized_keys"
        || basename(path) == b"authorized_keys2"
        || p == "/etc/ssh/sshd_config"
        || under(&["/etc/ssh/sshd_config.d/"])
    {
        return Some("ssh");
    }
    if matches!(
        p,
        "/etc/profile" | "/etc/bash.bashrc" | "/etc/bashrc" | "/etc/environment" | "/etc/zshrc"
    ) || under(&["/etc/profile.d/", "/etc/zsh/"])
        || in_home(
            p,
            &[
                ".bashrc",
                ".bash_profile",
                ".bash_login",
                ".bash_logout",
                ".profile",
                ".zshrc",
                ".zprofile",
                ".zshenv",
                ".zlogin",
                ".cshrc",
                ".tcshrc",
            ],
        )
    {
        return Some("shell-rc");
    }
    if p == "/etc/rc.local" || under(&["/etc/rc.d/", "/etc/init.d/", "/etc/rc.local.d/"]) {
        return Some("init");
    }
    if matches!(
        p,
        "/etc/passwd" | "/etc/shadow" | "/etc/group" | "/etc/sudoers"
    ) || under(&["/etc/sudoers.d/"])
    {
        return Some("accounts");
    }
    if under(&["/etc/xdg/autostart/", "/etc/udev/rules.d/"])
        || ((p.starts_with("/root/") || p.starts_with("/home/"))
            && p.contains("/.config/autostart/"))
    {
        return Some("autostart");
    }
    None
}

/// Content that is a program: a `#!` script or an ELF executable.
pub fn looks_executable(head: &[u8]) -> bool {
    head.starts_with(b"#!") || head.starts_with(b"\x7fELF")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(args: &[&str]) -> Vec<Vec<u8>> {
        args.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    #[test]
    fn interpreters_by_file_or_argv0() {
        assert_eq!(
            interpreter_of(b"/usr/bin/bash", &v(&["bash"])),
            Some("bash".into())
        );
        assert_eq!(
            interpreter_of(b"/usr/bin/python3.11", &v(&["python3"])),
            Some("python".into())
        );
        assert_eq!(
            interpreter_of(b"/tmp/x.sh", &v(&["/bin/sh", "/tmp/x.sh"])),
            Some("sh".into())
        );
        assert_eq!(
            interpreter_of(b"/proc/self/exe", &v(&["sh", "-c", "id"])),
            Some("sh".into())
        );
        assert_eq!(
            interpreter_of(b"/proc/self/exe", &v(&["base64", "-d"])),
            None
        );
        assert_eq!(interpreter_of(b"/usr/bin/cat", &v(&["cat"])), None);
    }

    #[test]
    fn modes() {
        assert_eq!(
            mode_of("sh", &v(&["sh", "-c", "echo hi", "name"])),
            Mode::Argument(b"echo hi".to_vec())
        );
        assert_eq!(
            mode_of("bash", &v(&["bash", "-ec", "echo hi"])),
            Mode::Argument(b"echo hi".to_vec())
        );
        assert_eq!(
            mode_of("bash", &v(&["bash", "-x", "/tmp/a.sh", "arg"])),
            Mode::Script(b"/tmp/a.sh".to_vec())
        );
        assert_eq!(mode_of("bash", &v(&["bash"])), Mode::Stdin);
        assert_eq!(mode_of("bash", &v(&["bash", "-s", "x"])), Mode::Stdin);
        assert_eq!(
            mode_of("bash", &v(&["bash", "--norc", "--noprofile", "-i"])),
            Mode::Stdin
        );
        assert_eq!(
            mode_of("bash", &v(&["bash", "-o", "pipefail", "x.sh"])),
            Mode::Script(b"x.sh".to_vec())
        );
        assert_eq!(
            mode_of("python", &v(&["python3", "-c", "print(1)"])),
            Mode::Argument(b"print(1)".to_vec())
        );
        assert_eq!(
            mode_of("python", &v(&["python3", "-m", "http.server"])),
            Mode::Other
        );
        assert_eq!(
            mode_of("perl", &v(&["perl", "-e", "print 1"])),
            Mode::Argument(b"print 1".to_vec())
        );
        assert_eq!(mode_of("python", &v(&["python3", "-"])), Mode::Stdin);
    }

    #[test]
    fn paths() {
        assert_eq!(resolve(Some(b"/www"), b"x.sh"), b"/www/x.sh");
        assert_eq!(resolve(Some(b"/a/b"), b"../c/./d"), b"/a/c/d");
        assert_eq!(resolve(None, b"//tmp//x"), b"/tmp/x");
        assert_eq!(resolve(None, b"x"), b"x");
        assert!(is_pseudo(b"/proc/self/fd/1"));
        assert!(is_tty_path(b"/dev/pts/3"));
        assert!(!is_tty_path(b"/dev/tty"));
    }

    /// The kernel keeps writes to its persistence locations whole; the reconstruction
    /// must name each such file as persistence, or the full payload goes unexplained.
    #[test]
    fn the_kernels_persistence_locations_are_named_here() {
        let samples: &[&str] = &[
            "/etc/crontab",
            "/etc/cron.d/job",
            "/etc/cron.daily/job",
            "/var/spool/cron/crontabs/root",
            "/etc/systemd/system/x.service",
            "/usr/lib/systemd/system/x.service",
            "/lib/systemd/system/x.service",
            "/etc/init.d/x",
            "/etc/rc.local",
            "/etc/ld.so.preload",
            "/etc/profile",
            "/etc/profile.d/x.sh",
            "/etc/bash.bashrc",
            "/etc/sudoers",
            "/etc/sudoers.d/x",
            "/root/.bashrc",
            "/home/bob/.profile",
            "/home/bob/.bash_profile",
            "/root/.zshrc",
            "/root/.ssh/authorized_keys",
            "/home/bob/.ssh/authorized_keys2",
        ];
        for p in samples {
            let p = p.as_bytes();
            if recorder_common::is_persistence_path(p) {
                assert!(persistence(p).is_some(), "{}", String::from_utf8_lossy(p));
            }
        }
        // Every kernel entry is exercised by a sample above.
        let hit = |f: &dyn Fn(&[u8]) -> bool| samples.iter().any(|s| f(s.as_bytes()));
        for pre in recorder_common::PERSISTENCE_PREFIXES {
            assert!(
                hit(&|s| s.starts_with(pre)),
                "{}",
                String::from_utf8_lossy(pre)
            );
        }
        for suf in recorder_common::PERSISTENCE_SUFFIXES {
            assert!(
                hit(&|s| s.ends_with(suf)),
                "{}",
                String::from_utf8_lossy(suf)
            );
        }
        assert!(!recorder_common::is_persistence_path(b"/tmp/x"));
    }

    #[test]
    fn persistence_locations() {
        assert_eq!(persistence(b"/var/spool/cron/crontabs/root"), Some("cron"));
        assert_eq!(persistence(b"/etc/crontabs/root"), Some("cron"));
        assert_eq!(
            persistence(b"/etc/systemd/system/x.service"),
            Some("systemd")
        );
        assert_eq!(persistence(b"/root/.ssh/authorized_keys"), Some("ssh"));
        assert_eq!(persistence(b"/home/bob/.bashrc"), Some("shell-rc"));
        assert_eq!(persistence(b"/etc/ld.so.preload"), Some("ld-preload"));
        assert_eq!(persistence(b"/tmp/x"), None);
        assert_eq!(persistence(b"/var/spool/cron/"), None);
    }
}
