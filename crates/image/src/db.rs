//! The image tables in caixa's SQLite state database (`ROOT/caixa.db`).
//!
//! WAL journal, a busy timeout and `BEGIN IMMEDIATE` for every writer make
//! concurrent caixa processes safe. Tables are prefixed `image_`; the engine
//! keeps its own tables in the same file.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};

use crate::error::Result;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS image_images (
    id TEXT PRIMARY KEY,
    manifest_digest TEXT NOT NULL,
    manifest_media_type TEXT NOT NULL,
    created TEXT,
    size INTEGER NOT NULL,
    added TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS image_tags (
    name TEXT PRIMARY KEY,
    image_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS image_tags_by_image ON image_tags(image_id);
CREATE TABLE IF NOT EXISTS image_repo_digests (
    repo TEXT NOT NULL,
    digest TEXT NOT NULL,
    image_id TEXT NOT NULL,
    PRIMARY KEY (repo, digest)
);
CREATE TABLE IF NOT EXISTS image_layers (
    image_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    diff_id TEXT NOT NULL,
    blob TEXT NOT NULL,
    media_type TEXT NOT NULL,
    blob_size INTEGER NOT NULL,
    size INTEGER NOT NULL,
    PRIMARY KEY (image_id, idx)
);
CREATE TABLE IF NOT EXISTS image_layer_refs (
    diff_id TEXT PRIMARY KEY,
    refcount INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS image_blob_refs (
    digest TEXT PRIMARY KEY,
    refcount INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS image_users (
    image_id TEXT NOT NULL,
    container_id TEXT NOT NULL,
    PRIMARY KEY (image_id, container_id)
);
";

/// Opens the database with WAL and a busy timeout, creating the image tables.
pub(crate) fn open(path: &Path) -> Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(30))?;
    // journal_mode returns a row; WAL is persistent in the file.
    let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(SCHEMA)?;
    tx.commit()?;
    Ok(conn)
}

/// Starts a writer transaction (`BEGIN IMMEDIATE`).
pub(crate) fn writer(conn: &mut Connection) -> Result<Transaction<'_>> {
    Ok(conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
}

/// Adds `delta` to a refcount row; returns the new count (row deleted at 0).
pub(crate) fn bump(
    tx: &Transaction<'_>,
    table: &str,
    key_col: &str,
    key: &str,
    delta: i64,
) -> Result<i64> {
    let cur: Option<i64> = tx
        .query_row(
            &format!("SELECT refcount FROM {table} WHERE {key_col} = ?1"),
            [key],
            |r| r.get(0),
        )
        .optional()?;
    let new = cur.unwrap_or(0) + delta;
    if new <= 0 {
        tx.execute(&format!("DELETE FROM {table} WHERE {key_col} = ?1"), [key])?;
        Ok(0)
    } else {
        tx.execute(
            &format!("INSERT OR REPLACE INTO {table} ({key_col}, refcount) VALUES (?1, ?2)"),
            params![key, new],
        )?;
        Ok(new)
    }
}
