//! `caixa pull/push/login/logout` and their progress display (a bar per
//! layer with indicatif on a terminal, plain lines otherwise, nothing with -q).

use std::collections::HashMap;
use std::io::{IsTerminal, Read};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use caixa_image::registry::{Event, Progress, RegistryOptions};
use caixa_image::{Platform, Reference, Store};
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// Registry options shared by pull and push.
#[derive(Args, Debug, Clone)]
pub struct NetArgs {
    /// Registries reachable over plain HTTP (localhost/127.0.0.1 always are).
    #[arg(
        long = "insecure-registry",
        env = "CAIXA_INSECURE_REGISTRIES",
        value_delimiter = ','
    )]
    pub insecure: Vec<String>,
    /// Suppress progress output.
    #[arg(short, long)]
    pub quiet: bool,
}

impl NetArgs {
    fn options(&self, platform: Option<&str>) -> Result<RegistryOptions> {
        Ok(RegistryOptions {
            insecure: self.insecure.clone(),
            platform: platform.map(Platform::parse).transpose()?,
            parallel: 3,
        })
    }
}

/// Layer progress: bars on a terminal, lines otherwise.
pub struct Display {
    quiet: bool,
    multi: Option<MultiProgress>,
    bars: Mutex<HashMap<String, ProgressBar>>,
    verb: &'static str,
}

impl Display {
    /// A display for pull ("Downloading") or push ("Pushing").
    pub fn new(quiet: bool, verb: &'static str) -> Display {
        let tty = std::io::stdout().is_terminal();
        Display {
            quiet,
            multi: (tty && !quiet).then(MultiProgress::new),
            bars: Mutex::new(HashMap::new()),
            verb,
        }
    }
}

impl Progress for Display {
    fn event(&self, e: Event) {
        if self.quiet {
            return;
        }
        let mut bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        match (&self.multi, e) {
            (Some(m), Event::Start { id, size }) => {
                let b = m.add(ProgressBar::new(size));
                b.set_style(
                    ProgressStyle::with_template(
                        "{prefix}: {msg} [{bar:40}] {bytes}/{total_bytes}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                b.set_prefix(id.clone());
                b.set_message(self.verb);
                bars.insert(id, b);
            }
            (Some(_), Event::Bytes { id, done }) => {
                if let Some(b) = bars.get(&id) {
                    b.set_position(done);
                }
            }
            (Some(m), Event::Status { id, status }) => match bars.get(&id) {
                Some(b) => {
                    b.set_style(
                        ProgressStyle::with_template("{prefix}: {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    b.finish_with_message(status);
                }
                None => {
                    let _ = m.println(format!("{id}: {status}"));
                }
            },
            (None, Event::Start { id, .. }) => println!("{id}: {}", self.verb),
            (None, Event::Bytes { .. }) => {}
            (None, Event::Status { id, status }) => println!("{id}: {status}"),
        }
    }
}

/// `caixa pull`.
pub fn pull(store: &Store, reference: &str, platform: Option<&str>, net: &NetArgs) -> Result<u8> {
    let r = Reference::parse(reference)?;
    let opts = net.options(platform)?;
    if !net.quiet {
        println!(
            "{}: Pulling from {}",
            r.tag.as_deref().unwrap_or("latest"),
            caixa_image::reference::familiar(&r.name())
        );
    }
    let d = Display::new(net.quiet, "Downloading");
    let img = store
        .pull(reference, &opts, &d)
        .with_context(|| format!("cannot pull {reference}"))?;
    if net.quiet {
        println!("{r}");
    } else {
        if let Some(dg) = img.repo_digests.iter().find(|x| x.starts_with(&r.name())) {
            println!("Digest: {}", dg.split_once('@').map(|x| x.1).unwrap_or(dg));
        }
        println!("Status: Downloaded newer image for {}", r.familiar_name());
        println!("{r}");
    }
    Ok(0)
}

/// `caixa push`.
pub fn push(store: &Store, reference: &str, net: &NetArgs) -> Result<u8> {
    let r = Reference::parse(reference)?;
    let opts = net.options(None)?;
    if !net.quiet {
        println!("The push refers to repository [{}]", r.name());
    }
    let d = Display::new(net.quiet, "Pushing");
    let dg = store
        .push(reference, &opts, &d)
        .with_context(|| format!("cannot push {reference}"))?;
    let size = store.blobs().size(&dg).unwrap_or(0);
    if net.quiet {
        println!("{r}");
    } else {
        println!(
            "{}: digest: {dg} size: {size}",
            r.tag.as_deref().unwrap_or("latest")
        );
    }
    Ok(0)
}

/// `caixa login`.
pub fn login(
    server: Option<&str>,
    user: Option<&str>,
    password: Option<&str>,
    stdin: bool,
    net: &NetArgs,
) -> Result<u8> {
    let server = server.unwrap_or(caixa_image::reference::DOCKER_HUB);
    let Some(user) = user else {
        bail!("login: --username is required (interactive prompts are not supported)");
    };
    let password = match (password, stdin) {
        (Some(p), false) => p.to_string(),
        (None, true) => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .context("read password from stdin")?;
            s.trim_end_matches(['\n', '\r']).to_string()
        }
        (Some(_), true) => bail!("login: --password and --password-stdin are mutually exclusive"),
        (None, false) => bail!("login: give --password or --password-stdin"),
    };
    caixa_image::registry::login(server, user, &password, &net.options(None)?)?;
    println!("Login Succeeded");
    Ok(0)
}

/// `caixa logout`.
pub fn logout(server: Option<&str>) -> Result<u8> {
    let server = server.unwrap_or(caixa_image::reference::DOCKER_HUB);
    if caixa_image::auth::erase(server)? {
        println!("Removing login credentials for {server}");
    } else {
        println!("Not logged in to {server}");
    }
    Ok(0)
}
