//! The containers' part of the shared state database (root/caixa.db):
//! WAL, a busy timeout, `BEGIN IMMEDIATE` for writers; names are unique.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OptionalExtension, TransactionBehavior, params};

use crate::config::Record;
use crate::error::{Error, Result};

/// A connection to the state database.
pub struct Db {
    conn: Connection,
    root: std::path::PathBuf,
    /// Watches the database's directory once events are read (so a commit
    /// between a read and the next wait is not missed).
    watch: std::cell::OnceCell<crate::util::DirWatch>,
    /// Short re-reads left after the last change notification.
    rechecks: std::cell::Cell<usize>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS containers (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    created TEXT NOT NULL,
    record  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS container_events (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    time   REAL NOT NULL,
    id     TEXT NOT NULL,
    name   TEXT NOT NULL,
    image  TEXT NOT NULL,
    action TEXT NOT NULL,
    attrs  TEXT NOT NULL DEFAULT ''
);";

/// One recorded event.
#[derive(Debug, Clone)]
pub struct Event {
    /// Unix seconds.
    pub time: f64,
    /// Container id.
    pub id: String,
    /// Container name.
    pub name: String,
    /// Image.
    pub image: String,
    /// create, start, die, stop, kill, destroy, rename, pause, unpause...
    pub action: String,
    /// Extra attributes, `k=v` comma-separated (e.g. `exitCode=0`).
    pub attrs: String,
    /// Order.
    pub seq: i64,
}

impl Db {
    /// Opens (creating) `root/caixa.db` and the containers tables.
    pub fn open(root: &Path) -> Result<Db> {
        std::fs::create_dir_all(root)
            .map_err(|e| Error::io(format!("create {}", root.display()), e))?;
        let conn = Connection::open(root.join("caixa.db"))?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // Every caixa process is usually the database's only user: opening
        // it rebuilds the WAL index by reading every frame since the last
        // checkpoint (up to 4 MB with SQLite's default of 1000 pages, ~2 ms
        // per command). Checkpointing every 128 pages keeps that read short.
        conn.pragma_update(None, "wal_autocheckpoint", 128)?;
        conn.execute_batch(SCHEMA)?;
        Ok(Db {
            conn,
            root: root.to_path_buf(),
            watch: std::cell::OnceCell::new(),
            rechecks: std::cell::Cell::new(0),
        })
    }

    /// Inserts a new container; a taken name is [`Error::NameInUse`].
    pub fn insert(&mut self, r: &Record) -> Result<()> {
        self.write_unique(
            r,
            "INSERT INTO containers (id, name, created, record) VALUES (?1, ?2, ?3, ?4)",
        )
    }

    /// Replaces a container's record (same id).
    pub fn update(&mut self, r: &Record) -> Result<()> {
        self.write_unique(
            r,
            "UPDATE containers SET name = ?2, created = ?3, record = ?4 WHERE id = ?1",
        )
    }

    /// Runs `sql` (parameters: id, name, created, record JSON) in an
    /// immediate transaction; a clash on the unique name becomes
    /// [`Error::NameInUse`] naming the container that holds it.
    fn write_unique(&mut self, r: &Record, sql: &str) -> Result<()> {
        let json = serde_json::to_string(r).map_err(|e| Error::invalid("record", e.to_string()))?;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        match tx.execute(sql, params![r.id, r.name, r.created, json]) {
            Ok(_) => {}
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == ErrorCode::ConstraintViolation =>
            {
                let holder: Option<String> = tx
                    .query_row(
                        "SELECT id FROM containers WHERE name = ?1",
                        [&r.name],
                        |row| row.get(0),
                    )
                    .optional()?;
                return Err(Error::NameInUse {
                    name: r.name.clone(),
                    id: holder.unwrap_or_default(),
                });
            }
            Err(e) => return Err(e.into()),
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes a container's row.
    pub fn delete(&mut self, id: &str) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM containers WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(())
    }

    /// Every container, oldest first.
    pub fn list(&self) -> Result<Vec<Record>> {
        let mut st = self
            .conn
            .prepare("SELECT record FROM containers ORDER BY created, id")?;
        let rows = st.query_map([], |row| row.get::<_, String>(0))?;
        let mut out = Vec::new();
        for r in rows {
            if let Ok(rec) = serde_json::from_str::<Record>(&r?) {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// Finds a container by full id, name, or unique id prefix.
    pub fn find(&self, key: &str) -> Result<Record> {
        let key = key.strip_prefix('/').unwrap_or(key);
        let parse = |s: String| {
            serde_json::from_str::<Record>(&s)
                .map_err(|e| Error::invalid(key, format!("corrupt record: {e}")))
        };
        let exact: Option<String> = self
            .conn
            .query_row("SELECT record FROM containers WHERE id = ?1 OR name = ?1 ORDER BY id = ?1 DESC LIMIT 1", [key], |r| r.get(0))
            .optional()?;
        if let Some(s) = exact {
            return parse(s);
        }
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::NoSuchContainer(key.to_string()));
        }
        let mut st = self
            .conn
            .prepare("SELECT record FROM containers WHERE id LIKE ?1 || '%' LIMIT 2")?;
        let found: Vec<String> = st
            .query_map([key.to_ascii_lowercase()], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
        match found.len() {
            0 => Err(Error::NoSuchContainer(key.to_string())),
            1 => parse(found.into_iter().next().unwrap_or_default()),
            _ => Err(Error::Ambiguous(key.to_string())),
        }
    }

    /// Records an event.
    pub fn event(&self, r: &Record, action: &str, attrs: &str) {
        let _ = self.conn.execute(
            "INSERT INTO container_events (time, id, name, image, action, attrs) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![crate::util::now_secs(), r.id, r.name, r.image, action, attrs],
        );
    }

    /// Blocks until the database changes (any commit, by any process) after
    /// the last [`Db::events`] call, or `until` (Unix seconds) passes.
    ///
    /// A writer's WAL write wakes us before its commit is visible (SQLite
    /// publishes it in the shared-memory index right after), so after each
    /// wake-up the next waits also end after 10 ms, 100 ms and 1 s: a
    /// commit seen early is read again once published. Idle, nothing polls.
    pub fn wait_events(&self, until: Option<f64>) {
        const RECHECK_MS: [u64; 3] = [1000, 100, 10];
        let mut timeout =
            until.map(|u| Duration::from_secs_f64((u - crate::util::now_secs()).max(0.0)));
        let left = self.rechecks.get();
        if left > 0 {
            let r = Duration::from_millis(RECHECK_MS[left - 1]);
            timeout = Some(timeout.map_or(r, |t| t.min(r)));
        }
        let woke = self
            .watch
            .get_or_init(|| crate::util::DirWatch::new(&self.root))
            .wait(0, timeout);
        self.rechecks.set(if woke {
            RECHECK_MS.len()
        } else {
            left.saturating_sub(1)
        });
    }

    /// Events after `seq`, with `time` in [since, until].
    pub fn events(&self, after_seq: i64, since: f64, until: f64) -> Result<Vec<Event>> {
        self.watch
            .get_or_init(|| crate::util::DirWatch::new(&self.root));
        let mut st = self.conn.prepare(
            "SELECT seq, time, id, name, image, action, attrs FROM container_events WHERE seq > ?1 AND time >= ?2 AND time <= ?3 ORDER BY seq",
        )?;
        let rows = st.query_map(params![after_seq, since, until], |r| {
            Ok(Event {
                seq: r.get(0)?,
                time: r.get(1)?,
                id: r.get(2)?,
                name: r.get(3)?,
                image: r.get(4)?,
                action: r.get(5)?,
                attrs: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}
