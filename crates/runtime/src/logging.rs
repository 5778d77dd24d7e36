//! The runtime's log: a tracing subscriber for `--debug`, `--log` and
//! `--log-format`, as runc's.
//!
//! Level: debug with `--debug`, else warnings and errors. Destination: the
//! `--log` file (appended to), else stderr. Format on a file: `text` is
//! logrus' `time="..." level=... msg="..."`, `json` one object per line with
//! `level`, `msg` and `time` (what containerd reads from `--log`). On stderr
//! the text form is the one-line `caixa-runtime: LEVEL: MSG`. An error is
//! always on stderr as `caixa-runtime: error: MSG` (also when it went to a
//! `--log` file), since callers grep stderr for "error".

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::sync::Mutex;

use anyhow::{Context as _, Result};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::cli::{Cli, LogFormat};

/// Installs the global subscriber for `cli`'s flags.
pub fn init(cli: &Cli) -> Result<()> {
    let file = match &cli.log {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("--log {}", path.display()))?,
        ),
        None => None,
    };
    let level = if cli.debug {
        LevelFilter::DEBUG
    } else {
        LevelFilter::WARN
    };
    let layer = LogLayer {
        file: file.map(Mutex::new),
        format: cli.log_format,
    };
    let subscriber = tracing_subscriber::registry().with(level).with(layer);
    tracing::subscriber::set_global_default(subscriber).context("installing the logger")?;
    Ok(())
}

/// Writes each event as one line (see the module documentation).
struct LogLayer {
    file: Option<Mutex<File>>,
    format: LogFormat,
}

/// The message and the other fields of an event.
#[derive(Default)]
struct Fields {
    msg: String,
    /// `key=value` pairs (text) or the JSON members (json).
    extra: Vec<(&'static str, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.msg.push_str(value);
        } else {
            self.extra.push((field.name(), value.to_owned()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.msg, "{value:?}");
        } else {
            self.extra.push((field.name(), format!("{value:?}")));
        }
    }
}

/// logrus' level names (containerd parses them).
fn level_name(l: Level) -> &'static str {
    match l {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

impl Fields {
    fn text_plain(&self, level: &str) -> String {
        let mut s = format!("caixa-runtime: {level}: {}", self.msg);
        for (k, v) in &self.extra {
            let _ = write!(s, " {k}={v}");
        }
        s.push('\n');
        s
    }

    fn text_logrus(&self, level: &str) -> String {
        let mut s = format!(
            "time=\"{}\" level={level} msg={:?}",
            caixa_oci::state::now_rfc3339(),
            self.msg
        );
        for (k, v) in &self.extra {
            let _ = write!(s, " {k}={v:?}");
        }
        s.push('\n');
        s
    }

    fn json(&self, level: &str) -> String {
        let mut obj = serde_json::Map::new();
        obj.insert("level".into(), level.into());
        obj.insert("msg".into(), self.msg.as_str().into());
        obj.insert("time".into(), caixa_oci::state::now_rfc3339().into());
        for (k, v) in &self.extra {
            obj.insert((*k).into(), v.as_str().into());
        }
        let mut s = serde_json::Value::Object(obj).to_string();
        s.push('\n');
        s
    }
}

impl<S: Subscriber> Layer<S> for LogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let level = *event.metadata().level();
        let name = level_name(level);
        let line = match (self.format, self.file.is_some()) {
            (LogFormat::Json, _) => fields.json(name),
            (LogFormat::Text, true) => fields.text_logrus(name),
            (LogFormat::Text, false) => fields.text_plain(name),
        };
        match &self.file {
            Some(f) => {
                if let Ok(mut f) = f.lock() {
                    let _ = f.write_all(line.as_bytes());
                }
                if level == Level::ERROR {
                    let _ = std::io::stderr().write_all(fields.text_plain(name).as_bytes());
                }
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }
}
