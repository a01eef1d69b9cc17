//! A consistent copy of the store, taken from the running server (sled allows one process
//! per database, so a second process cannot read it): every write holds the gate shared, a
//! snapshot holds it exclusively while it copies everything into memory, so the copy is one
//! moment; writers wait while it copies (not measured yet).
//!
//! Format: `HANDOFF-BACKUP 1\n`, then per collection its type and name, then its rows
//! (each a list of columns), every field a big-endian u32 length and the bytes; a row of
//! zero columns ends a collection.

use super::{Result, Store, StoreError};
use std::io::{Read, Write};
use std::path::Path;

const MAGIC: &[u8] = b"HANDOFF-BACKUP 1\n";

fn field(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

impl Store {
    /// Every write takes this shared; reentrant, because one store method may call another.
    pub(crate) fn write_gate(&self) -> parking_lot::RwLockReadGuard<'_, ()> {
        self.gate.read_recursive()
    }

    /// The whole store as one consistent backup.
    pub fn snapshot(&self) -> Result<Vec<u8>> {
        let _stop = self.gate.write();
        self.db.flush()?;
        let mut out = MAGIC.to_vec();
        for (kind, name, rows) in self.db.export() {
            field(&mut out, &kind);
            field(&mut out, &name);
            for row in rows {
                out.extend_from_slice(&(row.len() as u32).to_be_bytes());
                for column in row {
                    field(&mut out, &column);
                }
            }
            out.extend_from_slice(&0u32.to_be_bytes());
        }
        Ok(out)
    }
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("the backup is damaged: {what}"))
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn u32(&mut self) -> Result<u32> {
        let (head, rest) = self
            .0
            .split_at_checked(4)
            .ok_or_else(|| corrupt("it ends early"))?;
        self.0 = rest;
        Ok(u32::from_be_bytes(head.try_into().expect("4 bytes")))
    }

    fn bytes(&mut self) -> Result<Vec<u8>> {
        let len = self.u32()? as usize;
        let (head, rest) = self
            .0
            .split_at_checked(len)
            .ok_or_else(|| corrupt("it ends early"))?;
        self.0 = rest;
        Ok(head.to_vec())
    }
}

type Collection = (Vec<u8>, Vec<u8>, Vec<Vec<Vec<u8>>>);

fn parse(data: &[u8]) -> Result<Vec<Collection>> {
    let body = data
        .strip_prefix(MAGIC)
        .ok_or_else(|| corrupt("it is not a handoff backup"))?;
    let mut r = Reader(body);
    let mut collections = Vec::new();
    while !r.0.is_empty() {
        let (kind, name) = (r.bytes()?, r.bytes()?);
        let mut rows = Vec::new();
        loop {
            let columns = r.u32()?;
            if columns == 0 {
                break;
            }
            rows.push(
                (0..columns)
                    .map(|_| r.bytes())
                    .collect::<Result<Vec<_>>>()?,
            );
        }
        collections.push((kind, name, rows));
    }
    Ok(collections)
}

/// Restores a backup into `data_dir`, which must not hold a store yet (handoff is stopped).
pub fn restore(backup: &Path, data_dir: &Path) -> Result<()> {
    let mut data = Vec::new();
    std::fs::File::open(backup)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(|error| StoreError::DataDir {
            path: backup.display().to_string(),
            error,
        })?;
    let collections = parse(&data)?;
    let target = data_dir.join("store");
    if target.exists() {
        return Err(StoreError::Schema(format!(
            "{} already holds a store; restore into an empty data directory",
            data_dir.display()
        )));
    }
    super::create_private_dir(data_dir)?;
    let db = sled::Config::new().path(&target).open()?;
    db.import(
        collections
            .into_iter()
            .map(|(kind, name, rows)| (kind, name, rows.into_iter()))
            .collect(),
    );
    db.flush()?;
    Ok(())
}

/// Where the running server keeps the token `handoff backup` presents.
pub fn token_path(data_dir: &Path) -> std::path::PathBuf {
    data_dir.join("admin.token")
}

/// Replaces the backup token file (mode 0600).
pub fn write_token(data_dir: &Path, token: &str) -> Result<()> {
    let path = token_path(data_dir);
    let _ = std::fs::remove_file(&path);
    write_file(&path, token.as_bytes()).map_err(|error| StoreError::DataDir {
        path: path.display().to_string(),
        error,
    })
}

/// Writes a backup to `path` with mode 0600 (it holds secrets).
pub fn write_file(path: &Path, backup: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(backup)
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
        let restored = Store::open(&dir.path().join("b"), 8).unwrap();
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
}
