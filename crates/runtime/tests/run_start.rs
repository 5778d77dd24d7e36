//! `run` starts the container itself (create + start in one process): the
//! init waits on a pipe instead of `exec.fifo`, hooks still see the states.

mod common;

use common::Ctr;
use serde_json::json;

#[test]
fn run_starts_through_a_pipe_and_hooks_see_creating_then_running() {
    let mut c = Ctr::new("runstart");
    let probe = c.dir().join("probe");
    std::fs::create_dir(&probe).expect("mkdir probe");
    let bin = common::runtime_bin();
    let state = format!(
        "{} --root {} state {}",
        bin.display(),
        c.root.display(),
        c.id
    );
    let created = format!("{state} > {}/creating.json", probe.display());
    // The container waits for `go`, so poststart sees it running; the
    // listing shows what `run` made in the state dir.
    let post = format!(
        "{state} > {p}/post.json; ls {}/{} > {p}/ls.txt; touch {p}/go",
        c.root.display(),
        c.id,
        p = probe.display()
    );
    let src = probe.to_str().unwrap().to_string();
    c.edit(|s| {
        s["hooks"] = json!({
            "createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", created]}],
            "poststart": [{"path": "/bin/sh", "args": ["sh", "-c", post]}],
        });
        s["mounts"].as_array_mut().unwrap().push(
            json!({"destination": "/probe", "type": "bind", "source": src,
                         "options": ["rbind", "rw"]}),
        );
    });
    c.sh("while [ ! -e /probe/go ]; do sleep 0.01; done; echo started; exit 4");
    let o = c.run();
    assert_eq!(o.code, 4, "{o:?}");
    assert_eq!(o.stdout, "started\n");
    let read = |f: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(probe.join(f)).expect(f)).expect(f)
    };
    assert_eq!(read("creating.json")["status"], "creating");
    let running = read("post.json");
    assert_eq!(running["status"], "running");
    assert!(running["pid"].as_i64().unwrap() > 0);
    let ls = std::fs::read_to_string(probe.join("ls.txt")).unwrap();
    assert!(ls.contains("state.json"), "{ls}");
    assert!(!ls.contains("exec.fifo"), "run made a fifo: {ls}");
    // Deleted afterwards.
    assert!(!c.root.join(&c.id).exists());
}

#[test]
fn created_container_still_waits_on_exec_fifo() {
    let mut c = Ctr::new("fifostart");
    c.args(&["true"]);
    c.create().ok();
    assert!(c.root.join(&c.id).join("exec.fifo").exists());
    assert_eq!(c.status(), "created");
    c.start().ok();
    assert!(!c.root.join(&c.id).join("exec.fifo").exists());
    c.wait_stopped();
    c.delete(false).ok();
    assert!(!c.root.join(&c.id).exists());
}
