//! Hooks run as real processes: state on stdin, order, argv/env, failures,
//! timeouts (the killed hook is gone from /proc afterwards).

use std::path::{Path, PathBuf};

use caixa_oci::hooks::{self, HookError};
use oci_spec::runtime::Hook;

fn tmp(name: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("caixa-test-hooks-{name}-{}-", std::process::id()))
        .tempdir()
        .unwrap()
}

/// A hook running `script` with busybox's sh; args[0] = "sh" is what makes
/// busybox run its shell, so it also proves args[0] becomes argv[0].
fn sh_hook(script: &str, extra: &[&str], env: Option<Vec<String>>, timeout: Option<i64>) -> Hook {
    let mut h = Hook::default();
    h.set_path(PathBuf::from("/bin/busybox"));
    let mut args = vec!["sh".to_string(), "-c".into(), script.into(), "hook".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    h.set_args(Some(args));
    h.set_env(env);
    h.set_timeout(timeout);
    h
}

const STATE: &[u8] =
    br#"{"ociVersion":"1.2.1","id":"caixa-test-h","status":"created","pid":1,"bundle":"/b"}"#;

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

#[test]
fn hooks_get_the_state_on_stdin_in_order_with_args_and_env() {
    let d = tmp("order");
    let dir = d.path().to_str().unwrap();
    let script = r#"cat > "$1/$2.state"; echo "$2 $HOOK_VAR ${HOME:-nohome}" >> "$1/order""#;
    let env = Some(vec!["HOOK_VAR=v1".to_string(), "PATH=/bin:/usr/bin".into()]);
    let list = vec![
        sh_hook(script, &[dir, "first"], env.clone(), Some(5)),
        sh_hook(script, &[dir, "second"], env, None),
    ];
    hooks::run(&list, STATE).unwrap();
    assert_eq!(read(&d.path().join("first.state")).as_bytes(), STATE);
    assert_eq!(read(&d.path().join("second.state")).as_bytes(), STATE);
    // env replaces the environment: HOME is not inherited.
    assert_eq!(
        read(&d.path().join("order")),
        "first v1 nohome\nsecond v1 nohome\n"
    );
}

#[test]
fn a_failing_hook_stops_the_list_and_is_reported_with_its_stderr() {
    let d = tmp("fail");
    let marker = d.path().join("ran");
    let list = vec![
        sh_hook(
            "echo progress; echo 'first line' >&2; echo 'cannot frob the widget' >&2; exit 3",
            &[],
            None,
            None,
        ),
        sh_hook("touch \"$1\"", &[marker.to_str().unwrap()], None, None),
    ];
    let err: HookError = hooks::run(&list, STATE).unwrap_err();
    assert_eq!(err.path, "/bin/busybox");
    assert_eq!(err.reason, "exited with status 3: cannot frob the widget");
    assert_eq!(
        err.to_string(),
        "hook /bin/busybox: exited with status 3: cannot frob the widget"
    );
    assert!(!marker.exists(), "the hook after the failing one ran");
}

#[test]
fn a_hook_killed_by_a_signal_is_reported() {
    let err = hooks::run(&[sh_hook("kill -TERM $$", &[], None, None)], STATE).unwrap_err();
    assert_eq!(err.reason, "killed by signal SIGTERM");
}

#[test]
fn timeout_kills_the_hook() {
    let d = tmp("timeout");
    let pidfile = d.path().join("pid");
    let h = sh_hook(
        "echo $$ > \"$1\"; echo 'about to hang' >&2; exec sleep 100",
        &[pidfile.to_str().unwrap()],
        None,
        Some(1),
    );
    let err = hooks::run(&[h], STATE).unwrap_err();
    assert_eq!(
        err.reason,
        "timed out after 1s and was killed: about to hang"
    );
    let pid = read(&pidfile).trim().to_string();
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "hook {pid} still exists"
    );
}

#[test]
fn large_state_and_output_do_not_deadlock() {
    // The hook ignores stdin and floods stderr past the pipe buffer.
    let big_state = vec![b' '; 1 << 20];
    let h = sh_hook(
        "i=0; while [ $i -lt 3000 ]; do echo \"noise line $i with some padding\" >&2; i=$((i+1)); done; echo last >&2; exit 1",
        &[],
        None,
        Some(30),
    );
    let err = hooks::run(&[h], &big_state).unwrap_err();
    assert_eq!(err.reason, "exited with status 1: last");
    // And one that reads it all succeeds.
    let d = tmp("big");
    let out = d.path().join("state");
    let h = sh_hook("cat > \"$1\"", &[out.to_str().unwrap()], None, Some(30));
    hooks::run(&[h], &big_state).unwrap();
    assert_eq!(std::fs::metadata(&out).unwrap().len(), 1 << 20);
}

#[test]
fn bad_hooks_are_rejected_with_the_cause() {
    let mut h = Hook::default();
    h.set_path(PathBuf::from("/nonexistent/caixa-test-hook"));
    let err = hooks::run(&[h], STATE).unwrap_err();
    assert_eq!(err.path, "/nonexistent/caixa-test-hook");
    assert!(err.reason.starts_with("cannot execute: "), "{}", err.reason);

    let mut h = Hook::default();
    h.set_path(PathBuf::from("bin/true"));
    assert_eq!(
        hooks::run(&[h], STATE).unwrap_err().reason,
        "path must be absolute"
    );

    let h = sh_hook("true", &[], None, Some(0));
    assert_eq!(
        hooks::run(&[h], STATE).unwrap_err().reason,
        "timeout must be greater than zero, got 0"
    );

    let h = sh_hook("true", &[], Some(vec!["NOEQUALS".into()]), None);
    assert!(
        hooks::run(&[h], STATE)
            .unwrap_err()
            .reason
            .contains("NOEQUALS")
    );

    // Without args, argv[0] is the path and the env is inherited.
    let mut h = Hook::default();
    h.set_path(PathBuf::from("/bin/true"));
    hooks::run(&[h], STATE).unwrap();
}
