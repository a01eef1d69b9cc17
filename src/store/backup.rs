//! A consistent copy of the store, taken from the running server (sled allows one process
//! per database, so a second process cannot read it): every write holds the gate shared, a
//! snapshot holds it exclusively while it writes everything to a spool file, so the copy is
//! one moment; writers wait while it copies (0.13 to 0.43 s for 100,000 records of 400
//! bytes, 42 MB, on 2 shared cores: `write_pause_during_a_backup`). The spool file, not memory, holds the copy, and the
//! server streams it from there: neither process holds the whole store in memory.
//!
//! Format: `HANDOFF-BACKUP 1\n`, then per collection its type and name, then its rows
//! (each a list of columns), every field a big-endian u32 length and the bytes; a row of
//! zero columns ends a collection.

use super::{Result, Store, StoreError};
use std::io::{BufRead, Read, Write};
use std::path::Path;

const MAGIC: &[u8] = b"HANDOFF-BACKUP 1\n";

/// The meta key of the id generator's position when the last backup was taken.
pub(super) const NEXT_ID: &str = "next_id";

fn field(out: &mut impl Write, bytes: &[u8]) -> std::io::Result<()> {
    out.write_all(&(bytes.len() as u32).to_be_bytes())?;
    out.write_all(bytes)
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |error| StoreError::DataDir {
        path: path.display().to_string(),
        error,
    }
}

/// A finished snapshot in an unnamed spool file, read from its start.
pub(crate) struct Spooled {
    pub(crate) file: std::fs::File,
    pub(crate) bytes: u64,
    /// How long writes waited for it.
    pub(crate) pause: std::time::Duration,
}

impl Store {
    /// Every write takes this shared; reentrant, because one store method may call another.
    pub(crate) fn write_gate(&self) -> parking_lot::RwLockReadGuard<'_, ()> {
        self.gate.read_recursive()
    }

    #[cfg(test)]
    /// The whole store as one consistent backup, in memory (tests).
    pub(crate) fn snapshot(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.snapshot_to(&mut out)
            .map_err(|e| StoreError::Flush(e.to_string()))?;
        Ok(out)
    }

    /// Writes one consistent backup to `out`, holding every write back meanwhile.
    fn snapshot_to(&self, out: &mut impl Write) -> std::io::Result<()> {
        let _stop = self.gate.write();
        // The id generator is not a tree, so it is not in the export: record how far it
        // got, or a restored store would hand out its ids again (see `Store::open`).
        let next_id = self.db.generate_id().map_err(std::io::Error::other)?;
        self.meta
            .insert(NEXT_ID, &next_id.to_be_bytes())
            .map_err(std::io::Error::other)?;
        self.db.flush().map_err(std::io::Error::other)?;
        out.write_all(MAGIC)?;
        for (kind, name, rows) in self.db.export() {
            field(out, &kind)?;
            field(out, &name)?;
            for row in rows {
                out.write_all(&(row.len() as u32).to_be_bytes())?;
                for column in row {
                    field(out, &column)?;
                }
            }
            out.write_all(&0u32.to_be_bytes())?;
        }
        out.flush()
    }

    /// Takes a backup into a spool file in `dir` (the data directory: private, and on a
    /// disk with room for the store). The file is unlinked as soon as it is created, so a
    /// crash leaves nothing behind and no other process can open it.
    pub(crate) fn spool(&self, dir: &Path) -> Result<Spooled> {
        use std::io::Seek;
        let path = dir.join(format!("backup-{}.spool", ulid::Ulid::generate()));
        let mut file = private_file(&path).map_err(io(&path))?;
        // The open handle keeps the data; the name goes at once.
        let _ = std::fs::remove_file(&path);
        let started = std::time::Instant::now();
        let mut out = std::io::BufWriter::with_capacity(1 << 20, &mut file);
        self.snapshot_to(&mut out).map_err(io(&path))?;
        drop(out);
        let pause = started.elapsed();
        let bytes = file.stream_position().map_err(io(&path))?;
        file.rewind().map_err(io(&path))?;
        Ok(Spooled { file, bytes, pause })
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("the backup is damaged: {what}"))
}

/// Reads a backup's fields as they come, so a restore holds one record at a time.
struct Reader<R>(R);

fn damaged(e: std::io::Error) -> StoreError {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof => corrupt("it ends early"),
        _ => corrupt(&e.to_string()),
    }
}

impl<R: BufRead> Reader<R> {
    fn at_end(&mut self) -> Result<bool> {
        Ok(self.0.fill_buf().map_err(damaged)?.is_empty())
    }

    fn u32(&mut self) -> Result<u32> {
        let mut head = [0u8; 4];
        self.0.read_exact(&mut head).map_err(damaged)?;
        Ok(u32::from_be_bytes(head))
    }

    /// A field. Read through `take`, so a damaged length reads to the end of the file and
    /// is found out there, rather than allocating what it claims.
    fn bytes(&mut self) -> Result<Vec<u8>> {
        let len = self.u32()?;
        let mut out = Vec::new();
        (&mut self.0)
            .take(u64::from(len))
            .read_to_end(&mut out)
            .map_err(damaged)?;
        if out.len() != len as usize {
            return Err(corrupt("it ends early"));
        }
        Ok(out)
    }
}

/// Writes a backup's collections into `db`, one record at a time. Everything is checked
/// as it is read (sled's own `import` panics on a malformed row).
fn import(db: &sled::Db, input: impl BufRead) -> Result<()> {
    let mut r = Reader(input);
    let mut magic = vec![0u8; MAGIC.len()];
    r.0.read_exact(&mut magic)
        .map_err(|_| corrupt("it is not a handoff backup"))?;
    if magic != MAGIC {
        return Err(corrupt("it is not a handoff backup"));
    }
    while !r.at_end()? {
        if r.bytes()? != b"tree" {
            return Err(corrupt("a collection is not a tree"));
        }
        let tree = db.open_tree(r.bytes()?)?;
        loop {
            match r.u32()? {
                0 => break,
                2 => {
                    let key = r.bytes()?;
                    tree.insert(key, r.bytes()?)?;
                }
                _ => return Err(corrupt("a record is not a key and a value")),
            }
        }
    }
    Ok(())
}

/// Restores a backup into `data_dir`, which must not hold a store yet (handoff is stopped).
/// A damaged backup leaves no store behind.
pub fn restore(backup: &Path, data_dir: &Path) -> Result<()> {
    let file = std::fs::File::open(backup).map_err(io(backup))?;
    let target = data_dir.join("store");
    if target.exists() {
        return Err(StoreError::Schema(format!(
            "{} already holds a store; restore into an empty data directory",
            data_dir.display()
        )));
    }
    super::create_private_dir(data_dir)?;
    let imported = sled::Config::new()
        .path(&target)
        .open()
        .map_err(StoreError::from)
        .and_then(|db| {
            import(&db, std::io::BufReader::with_capacity(1 << 20, file))?;
            db.flush()?;
            Ok(())
        });
    if imported.is_err() {
        let _ = std::fs::remove_dir_all(&target);
    }
    imported
}

/// Where the running server keeps the token `handoff backup` presents.
pub fn token_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("admin.token")
}

/// Replaces the backup token file (mode 0600).
pub(crate) fn write_token(data_dir: &Path, token: &str) -> Result<()> {
    let path = token_path(data_dir);
    let _ = std::fs::remove_file(&path);
    write_file(&path, token.as_bytes()).map_err(|error| StoreError::DataDir {
        path: path.display().to_string(),
        error,
    })
}

/// A new file only the owner can read and write (a backup holds secrets).
pub fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Writes a backup to `path` with mode 0600 (it holds secrets).
pub(crate) fn write_file(path: &Path, backup: &[u8]) -> std::io::Result<()> {
    private_file(path)?.write_all(backup)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ChannelRecord;

    #[test]
    fn a_backup_restores_to_the_same_records() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a"), 8).unwrap();
        let channel = ChannelRecord {
            id: "7".into(),
            webhook_url: "https://h/webhooks/hubspot".into(),
            created_at: chrono::Utc::now(),
        };
        store.set_channel(&channel).unwrap();
        let backup = store.snapshot().unwrap();
        let file = dir.path().join("backup.bin");
        write_file(&file, &backup).unwrap();
        restore(&file, &dir.path().join("b")).unwrap();
        let restored = Store::reopen(&dir.path().join("b")).unwrap();
        assert_eq!(restored.channel().unwrap(), Some(channel));
        assert!(
            restore(&file, &dir.path().join("b")).is_err(),
            "never over a store"
        );
        let mut damaged = backup.clone();
        damaged.truncate(backup.len() - 3);
        std::fs::write(dir.path().join("bad.bin"), &damaged).unwrap();
        let err = restore(&dir.path().join("bad.bin"), &dir.path().join("c")).unwrap_err();
        assert!(err.to_string().contains("damaged"), "{err}");
    }

    #[test]
    fn a_restored_store_never_hands_out_an_id_it_holds() {
        use crate::outbox::{OutboxItem, OutboxRepo};
        use crate::relay::HubSpotJob;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("a"), 8).unwrap();
        let push = |store: &Store| {
            store
                .outbox_push(&OutboxItem::new("ses_a", HubSpotJob::CloseThread, 0))
                .unwrap()
        };
        // A store that has run a while: sled reopens its generator up to a million ids
        // ahead of where it persisted it, which hides the reset in a young store.
        while store.db.generate_id().unwrap() < 2_500_000 {}
        let old: Vec<_> = (0..3).map(|_| push(&store)).collect();
        let file = dir.path().join("backup.bin");
        write_file(&file, &store.snapshot().unwrap()).unwrap();
        restore(&file, &dir.path().join("b")).unwrap();
        let restored = Store::reopen(&dir.path().join("b")).unwrap();
        let new = push(&restored);
        assert!(
            old.iter().all(|k| k.seq() < new.seq()),
            "{new:?} comes after {old:?}"
        );
        let lane = <Store as OutboxRepo<HubSpotJob>>::head(&restored, "ses_a").unwrap();
        assert_eq!(lane.unwrap().0, old[0], "the lane starts where it did");
        assert_eq!(restored.outbox_len(crate::outbox::Queue::HubSpot), 4);

        // A backup from before the generator's position was recorded: the ids the store
        // holds are enough to keep clear of them.
        restore(&file, &dir.path().join("c")).unwrap();
        let older_store = dir.path().join("c").join("store");
        let db = crate::store::when_unlocked(|| sled::open(&older_store)).unwrap();
        db.open_tree("meta").unwrap().remove(NEXT_ID).unwrap();
        db.flush().unwrap();
        drop(db);
        let older = Store::reopen(&dir.path().join("c")).unwrap();
        let new = push(&older);
        assert!(
            old.iter().all(|k| k.seq() < new.seq()),
            "{new:?} comes after {old:?}"
        );
        assert_eq!(older.outbox_len(crate::outbox::Queue::HubSpot), 4);
    }

    #[test]
    fn a_malformed_backup_is_refused_and_leaves_no_store() {
        let dir = tempfile::tempdir().unwrap();
        let mut backup = MAGIC.to_vec();
        for f in [&b"tree"[..], b"settings"] {
            field(&mut backup, f).unwrap();
        }
        // A row of one column: sled's own import would panic on it.
        backup.extend_from_slice(&1u32.to_be_bytes());
        field(&mut backup, b"key").unwrap();
        backup.extend_from_slice(&0u32.to_be_bytes());
        let file = dir.path().join("bad.bin");
        write_file(&file, &backup).unwrap();
        let err = restore(&file, &dir.path().join("d")).unwrap_err();
        assert!(err.to_string().contains("not a key and a value"), "{err}");
        assert!(!dir.path().join("d").join("store").exists());

        let mut huge = MAGIC.to_vec();
        huge.extend_from_slice(&u32::MAX.to_be_bytes());
        std::fs::write(dir.path().join("huge.bin"), &huge).unwrap();
        let err = restore(&dir.path().join("huge.bin"), &dir.path().join("e")).unwrap_err();
        assert!(err.to_string().contains("ends early"), "{err}");
        let err = restore(&dir.path().join("missing.bin"), &dir.path().join("f")).unwrap_err();
        assert!(err.to_string().contains("missing.bin"), "{err}");
    }

    /// How long writes wait while a backup of 100,000 records is taken. A measurement, not
    /// a check: `cargo test --release --lib write_pause_during_a_backup -- --ignored
    /// --nocapture`.
    #[test]
    #[ignore = "a measurement; run it on purpose"]
    fn write_pause_during_a_backup() {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::time::{Duration, Instant};
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s"), 64).unwrap();
        // Events are the bulk of a real store: 100,000 of about 400 bytes.
        let value = vec![b'e'; 400];
        for i in 0..100_000u64 {
            store
                .events
                .insert(i.to_be_bytes(), value.as_slice())
                .unwrap();
        }
        store.db.flush().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (store, stop) = (store.clone(), stop.clone());
            std::thread::spawn(move || {
                let (mut worst, mut writes) = (Duration::ZERO, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    store.set_admin_password_hash("a write").unwrap();
                    worst = worst.max(t.elapsed());
                    writes += 1;
                }
                (worst, writes)
            })
        };
        std::thread::sleep(Duration::from_millis(200));
        let spooled = store.spool(dir.path()).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        stop.store(true, Ordering::Relaxed);
        let (worst, writes) = writer.join().unwrap();
        println!(
            "backup of 100,000 records ({} bytes): gate held {:?}; the slowest of {writes} writes meanwhile took {worst:?}",
            spooled.bytes, spooled.pause
        );
        assert!(worst >= spooled.pause / 2, "writes did wait for the gate");
    }
}
