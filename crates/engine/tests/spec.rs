//! config.json generation: Docker's defaults and how flags change them.

use std::path::Path;

use caixa_engine::config::{CreateOptions, Record};
use caixa_engine::spec::{self, DEFAULT_CAPS, MASKED_PATHS};

fn record(opts: CreateOptions) -> Record {
    Record {
        id: "ab".repeat(32),
        name: "t".into(),
        args: vec!["sh".into()],
        hostname: "abababababab".into(),
        stop_signal: "SIGTERM".into(),
        opts,
        ..Record::default()
    }
}

fn make_spec(opts: CreateOptions) -> Result<serde_json::Value, caixa_engine::Error> {
    spec::generate(
        &record(opts),
        Path::new("/nonexistent/rootfs"),
        Path::new("/nonexistent/dir"),
        None,
    )
}

fn caps(v: &serde_json::Value) -> Vec<String> {
    v["process"]["capabilities"]["bounding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn defaults_are_dockers() {
    let v = make_spec(CreateOptions::default()).unwrap();
    assert_eq!(
        caps(&v),
        DEFAULT_CAPS
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(
        v["linux"]["maskedPaths"].as_array().unwrap().len(),
        MASKED_PATHS.len()
    );
    assert_eq!(v["linux"]["readonlyPaths"][3], "/proc/sys");
    assert_eq!(v["linux"]["seccomp"]["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(
        v["linux"]["resources"]["devices"][0],
        serde_json::json!({"allow": false, "access": "rwm"})
    );
    assert_eq!(
        v["linux"]["cgroupsPath"],
        format!("/caixa-{}", "ab".repeat(32))
    );
    let ns: Vec<&str> = v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    for t in ["pid", "ipc", "uts", "mount", "network"] {
        assert!(ns.contains(&t), "{t} missing from {ns:?}");
    }
    let mounts: Vec<&str> = v["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["destination"].as_str().unwrap())
        .collect();
    for m in [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/dev/mqueue",
        "/sys",
        "/sys/fs/cgroup",
        "/etc/hostname",
        "/etc/hosts",
        "/etc/resolv.conf",
    ] {
        assert!(mounts.contains(&m), "{m} missing");
    }
    assert!(
        v["process"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "HOSTNAME=abababababab")
    );
    assert_eq!(v["process"]["noNewPrivileges"], false);
}

#[test]
fn flags_change_the_spec() {
    let v = make_spec(CreateOptions {
        cap_add: vec!["sys_admin".into()],
        cap_drop: vec!["CAP_NET_RAW".into()],
        memory: Some("64m".into()),
        cpus: Some(1.5),
        cpu_shares: Some(512),
        cpuset_cpus: Some("0".into()),
        pids_limit: Some(10),
        read_only: true,
        network: Some("host".into()),
        security_opt: vec!["no-new-privileges".into(), "seccomp=unconfined".into()],
        ulimits: vec!["nofile=10:20".into()],
        tty: true,
        ..CreateOptions::default()
    })
    .unwrap();
    let c = caps(&v);
    assert!(c.contains(&"CAP_SYS_ADMIN".to_string()) && !c.contains(&"CAP_NET_RAW".to_string()));
    let r = &v["linux"]["resources"];
    assert_eq!(r["memory"]["limit"], 64 << 20);
    assert_eq!(
        r["memory"]["swap"],
        128 << 20,
        "Docker's default swap is twice the limit"
    );
    assert_eq!(r["cpu"]["quota"], 150_000);
    assert_eq!(r["cpu"]["period"], 100_000);
    assert_eq!(r["cpu"]["shares"], 512);
    assert_eq!(r["cpu"]["cpus"], "0");
    assert_eq!(r["pids"]["limit"], 10);
    assert_eq!(v["root"]["readonly"], true);
    assert!(
        !v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["type"] == "network")
    );
    assert!(v["linux"].get("seccomp").is_none());
    assert_eq!(v["process"]["noNewPrivileges"], true);
    assert_eq!(
        v["process"]["rlimits"][0],
        serde_json::json!({"type": "RLIMIT_NOFILE", "soft": 10, "hard": 20})
    );
    assert_eq!(v["process"]["terminal"], true);
    assert!(
        v["process"]["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e == "TERM=xterm")
    );
}

#[test]
fn privileged_drops_the_confinement() {
    let v = make_spec(CreateOptions {
        privileged: true,
        ..CreateOptions::default()
    })
    .unwrap();
    assert!(v["linux"].get("maskedPaths").is_none());
    assert!(v["linux"].get("seccomp").is_none());
    assert_eq!(
        v["linux"]["resources"]["devices"][0],
        serde_json::json!({"allow": true, "access": "rwm"})
    );
    assert_eq!(caps(&v), spec::host_caps());
}

#[test]
fn bad_flags_name_the_flag() {
    let cases: Vec<(CreateOptions, &str)> = vec![
        (
            CreateOptions {
                memory: Some("1k".into()),
                ..Default::default()
            },
            "--memory",
        ),
        (
            CreateOptions {
                memory: Some("64m".into()),
                memory_swap: Some("32m".into()),
                ..Default::default()
            },
            "--memory-swap",
        ),
        (
            CreateOptions {
                memory_swap: Some("32m".into()),
                ..Default::default()
            },
            "--memory-swap",
        ),
        (
            CreateOptions {
                cpus: Some(0.0),
                ..Default::default()
            },
            "--cpus",
        ),
        (
            CreateOptions {
                cap_add: vec!["FLY".into()],
                ..Default::default()
            },
            "--cap-add",
        ),
        (
            CreateOptions {
                ulimits: vec!["nofile=x".into()],
                ..Default::default()
            },
            "--ulimit",
        ),
        (
            CreateOptions {
                ulimits: vec!["wings=1".into()],
                ..Default::default()
            },
            "--ulimit",
        ),
        (
            CreateOptions {
                security_opt: vec!["magic".into()],
                ..Default::default()
            },
            "--security-opt",
        ),
        (
            CreateOptions {
                network: Some("bridge9".into()),
                ..Default::default()
            },
            "--network",
        ),
    ];
    for (opts, flag) in cases {
        let e = make_spec(opts).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{flag}: ")), "{flag}: {e}");
    }
}

#[test]
fn users_resolve_from_the_rootfs() {
    let dir = tempfile::Builder::new()
        .prefix("caixa-test-spec")
        .tempdir()
        .unwrap();
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    std::fs::write(
        dir.path().join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\nweb:x:33:44::/var/www:/bin/false\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("etc/group"), "root:x:0:\nstaff:x:50:\n").unwrap();
    assert_eq!(
        spec::resolve_user(dir.path(), "web").unwrap(),
        (33, 44, vec![])
    );
    assert_eq!(
        spec::resolve_user(dir.path(), "web:staff").unwrap(),
        (33, 50, vec![])
    );
    assert_eq!(
        spec::resolve_user(dir.path(), "1000:7").unwrap(),
        (1000, 7, vec![])
    );
    let e = spec::resolve_user(dir.path(), "nobody").unwrap_err();
    assert_eq!(e.exit_code(), 125);
    assert!(e.to_string().contains("unable to find user nobody"), "{e}");
}

#[test]
fn signals_parse_by_name_and_number() {
    assert_eq!(spec::signal_number("SIGTERM"), Some(15));
    assert_eq!(spec::signal_number("kill"), Some(9));
    assert_eq!(spec::signal_number("10"), Some(10));
    assert_eq!(spec::signal_number("SIGNOPE"), None);
    assert_eq!(spec::signal_number("0"), None);
}

#[test]
fn privileged_lists_host_devices() {
    let v = make_spec(CreateOptions {
        privileged: true,
        ..CreateOptions::default()
    })
    .unwrap();
    let devs = v["linux"]["devices"].as_array().unwrap();
    let paths: Vec<&str> = devs.iter().map(|d| d["path"].as_str().unwrap()).collect();
    assert!(paths.contains(&"/dev/null"), "{paths:?}");
    for p in &paths {
        assert!(
            !p.starts_with("/dev/pts/") && *p != "/dev/console" && !p.starts_with("/dev/shm/"),
            "{p}"
        );
    }
    let null = devs.iter().find(|d| d["path"] == "/dev/null").unwrap();
    assert_eq!(
        (
            null["type"].as_str(),
            null["major"].as_u64(),
            null["minor"].as_u64()
        ),
        (Some("c"), Some(1), Some(3))
    );
    assert_eq!(
        v["linux"]["resources"]["devices"],
        serde_json::json!([{"allow": true, "access": "rwm"}])
    );
    assert!(v["linux"].get("seccomp").is_none());
    // Not privileged: no host devices.
    assert!(make_spec(CreateOptions::default()).unwrap()["linux"]["devices"].is_null());
}

#[test]
fn volumes_become_mounts() {
    let v = make_spec(CreateOptions {
        volumes: vec!["/srv/a:/a".into(), "/srv/b:/b:ro,rshared".into()],
        mounts: vec!["type=bind,src=/tmp,dst=/t,readonly,bind-nonrecursive".into()],
        tmpfs: vec!["/run/x:size=1m,exec".into()],
        ..CreateOptions::default()
    })
    .unwrap();
    let m = v["mounts"].as_array().unwrap();
    let find = |d: &str| m.iter().find(|x| x["destination"] == d).unwrap().clone();
    assert_eq!(
        find("/a"),
        serde_json::json!({"destination": "/a", "type": "bind", "source": "/srv/a", "options": ["rbind", "rprivate"]})
    );
    assert_eq!(
        find("/b")["options"],
        serde_json::json!(["rbind", "rshared", "ro"])
    );
    assert_eq!(
        find("/t")["options"],
        serde_json::json!(["bind", "rprivate", "ro"])
    );
    let t = find("/run/x");
    assert_eq!(t["type"], "tmpfs");
    let opts: Vec<&str> = t["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap())
        .collect();
    assert_eq!(opts.last(), Some(&"exec"));
    assert!(
        opts.contains(&"size=1m") && opts.contains(&"mode=1777"),
        "{opts:?}"
    );
}

#[test]
fn volume_host_dirs_are_made_at_start_not_when_probing() {
    let tmp = tempfile::Builder::new()
        .prefix("caixa-test-spec")
        .tempdir()
        .unwrap();
    let missing = tmp.path().join("made/here");
    let opts = CreateOptions {
        volumes: vec![format!("{}:/m", missing.display())],
        ..CreateOptions::default()
    };
    // create/update validate with no rootfs: nothing is made.
    make_spec(opts.clone()).unwrap();
    assert!(!missing.exists());
    // A real start (the rootfs exists) makes it, as Docker does for -v.
    spec::generate(&record(opts), tmp.path(), tmp.path(), None).unwrap();
    assert!(missing.is_dir());
}

#[test]
fn bad_volumes_name_the_flag() {
    for (o, flag) in [
        (
            CreateOptions {
                volumes: vec!["rel/x:/a".into()],
                ..Default::default()
            },
            "--volume",
        ),
        (
            CreateOptions {
                volumes: vec!["vol:/a".into()],
                ..Default::default()
            },
            "--volume",
        ),
        (
            CreateOptions {
                volumes: vec!["/a:/b:ro,rw".into()],
                ..Default::default()
            },
            "--volume",
        ),
        (
            CreateOptions {
                volumes: vec!["/a:/b:c:d".into()],
                ..Default::default()
            },
            "--volume",
        ),
        (
            CreateOptions {
                mounts: vec!["type=bind,src=/nonexistent-caixa-test,dst=/a".into()],
                ..Default::default()
            },
            "--mount",
        ),
        (
            CreateOptions {
                mounts: vec!["type=tmpfs,src=/tmp,dst=/a".into()],
                ..Default::default()
            },
            "--mount",
        ),
        (
            CreateOptions {
                mounts: vec!["type=nfs,dst=/a".into()],
                ..Default::default()
            },
            "--mount",
        ),
        (
            CreateOptions {
                mounts: vec!["type=bind,src=/tmp,dst=/a,readonly=maybe".into()],
                ..Default::default()
            },
            "--mount",
        ),
        (
            CreateOptions {
                tmpfs: vec!["/".into()],
                ..Default::default()
            },
            "--tmpfs",
        ),
        (
            CreateOptions {
                tmpfs: vec!["/a:size".into()],
                ..Default::default()
            },
            "--tmpfs",
        ),
    ] {
        let what = format!("{:?} {:?} {:?}", o.volumes, o.mounts, o.tmpfs);
        let e = make_spec(o).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{flag}: ")) && !e.contains('\n'),
            "{what}: {e}"
        );
    }
}

#[test]
fn detach_keys_parse_like_dockers() {
    use caixa_engine::attach::{DetachWatch, parse_detach_keys};
    assert_eq!(parse_detach_keys("").unwrap(), vec![0x10, 0x11]);
    assert_eq!(
        parse_detach_keys("ctrl-p,ctrl-q").unwrap(),
        vec![0x10, 0x11]
    );
    assert_eq!(parse_detach_keys("ctrl-a,x").unwrap(), vec![1, b'x']);
    assert_eq!(
        parse_detach_keys("CTRL-@,ctrl-_,ctrl-\\").unwrap(),
        vec![0, 31, 28]
    );
    for bad in ["ctrl-1", "ctrl-", "ab", "x,,y", "ctrl-a,"] {
        let e = parse_detach_keys(bad).unwrap_err().to_string();
        assert!(e.starts_with("--detach-keys: "), "{bad}: {e}");
    }
    let mut w = DetachWatch::new(vec![0x10, 0x11]);
    assert_eq!(w.feed(b"ab\x10"), (b"ab".to_vec(), false));
    // A broken sequence is sent on, held bytes first.
    assert_eq!(w.feed(b"c"), (b"\x10c".to_vec(), false));
    assert_eq!(w.feed(b"\x10\x10"), (b"\x10".to_vec(), false));
    assert_eq!(w.feed(b"\x11rest"), (Vec::new(), true));
}
