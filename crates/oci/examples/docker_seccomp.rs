//! Prints Docker's default seccomp profile in OCI form (`linux.seccomp`)
//! for the capabilities given as arguments, e.g.
//! `docker_seccomp CAP_KILL CAP_NET_BIND_SERVICE`. Used by
//! benches/lifecycle.sh to give every runtime the same filter.

fn main() -> std::process::ExitCode {
    let caps: Vec<String> = std::env::args().skip(1).collect();
    match caixa_oci::seccomp::docker::default_profile(&caps) {
        Ok(p) => match serde_json::to_string(&p) {
            Ok(s) => {
                println!("{s}");
                std::process::ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("docker_seccomp: {e}");
                std::process::ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("docker_seccomp: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
