//! `caixa save` and `caixa load`.

use std::io::{IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use caixa_image::Store;
use caixa_image::archive::Format;

/// `caixa save`.
pub fn save(store: &Store, images: &[String], output: Option<&str>, format: &str) -> Result<u8> {
    let format: Format = format.parse()?;
    let what = images.join(" ");
    match (format, output) {
        (Format::OciDir, Some(dir)) => {
            store
                .save(images, format, &mut std::io::sink(), Some(Path::new(dir)))
                .with_context(|| format!("cannot save {what} to {dir}"))?;
        }
        (Format::OciDir, None) => bail!("save: --format oci-dir needs -o DIRECTORY"),
        (_, Some(file)) => {
            // Write next to the target, then rename: no half-written archive on error.
            let tmp = format!("{file}.caixa-tmp");
            let res = (|| -> Result<()> {
                let f =
                    std::fs::File::create(&tmp).with_context(|| format!("cannot create {file}"))?;
                let mut w = std::io::BufWriter::with_capacity(1 << 20, f);
                store.save(images, format, &mut w, None)?;
                w.flush()?;
                std::fs::rename(&tmp, file)?;
                Ok(())
            })();
            if let Err(e) = res {
                let _ = std::fs::remove_file(&tmp);
                return Err(e.context(format!("cannot save {what} to {file}")));
            }
        }
        (_, None) => {
            let out = std::io::stdout();
            if out.is_terminal() {
                bail!(
                    "save: refusing to write an archive to a terminal; use -o FILE or redirect stdout"
                );
            }
            let mut w = std::io::BufWriter::with_capacity(1 << 20, out.lock());
            store
                .save(images, format, &mut w, None)
                .with_context(|| format!("cannot save {what}"))?;
            w.flush()?;
        }
    }
    Ok(0)
}

/// `caixa load`.
pub fn load(store: &Store, input: Option<&str>, _quiet: bool) -> Result<u8> {
    let imgs = match input {
        Some(p) => store
            .load_path(Path::new(p))
            .with_context(|| format!("cannot load {p}"))?,
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                bail!("load: no archive on stdin; use -i FILE or redirect stdin");
            }
            store
                .load(stdin.lock(), "stdin")
                .context("cannot load from stdin")?
        }
    };
    for img in &imgs {
        let tags = img.familiar_tags();
        if tags.is_empty() {
            println!("Loaded image ID: {}", img.id);
        } else {
            for t in tags {
                println!("Loaded image: {t}");
            }
        }
    }
    Ok(0)
}
