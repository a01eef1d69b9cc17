//! Files already uploaded to HubSpot for a queued message, so a retried attempt attaches
//! them again instead of uploading them again: `session \0 message \0 index` → the file.

use super::{Result, Store, UploadedFile, decode, encode};

fn prefix(session: &str, message: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(session.len() + message.len() + 2);
    key.extend_from_slice(session.as_bytes());
    key.push(0);
    key.extend_from_slice(message.as_bytes());
    key.push(0);
    key
}

fn key(session: &str, message: &str, index: usize) -> Vec<u8> {
    let mut key = prefix(session, message);
    key.extend_from_slice(&(index as u32).to_be_bytes());
    key
}

impl Store {
    pub(crate) fn uploaded_file(
        &self,
        session: &str,
        message: &str,
        index: usize,
    ) -> Result<Option<UploadedFile>> {
        self.uploads
            .get(key(session, message, index))?
            .map(|v| decode(&v))
            .transpose()
    }

    /// Remembers an upload; durable after the next [`Store::flush`].
    pub(crate) fn record_upload(
        &self,
        session: &str,
        message: &str,
        index: usize,
        file: &UploadedFile,
    ) -> Result<()> {
        let _gate = self.write_gate();
        self.uploads
            .insert(key(session, message, index), encode(file))?;
        Ok(())
    }

    /// The message was published: its uploads are no longer needed.
    pub(crate) fn forget_uploads(&self, session: &str, message: &str) -> Result<()> {
        let _gate = self.write_gate();
        for entry in self.uploads.scan_prefix(prefix(session, message)) {
            let (k, _) = entry?;
            self.uploads.remove(k)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_are_kept_per_message_until_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 8).unwrap();
        let file = |id: &str| UploadedFile {
            file_id: id.into(),
            name: format!("{id}.png"),
        };
        store.record_upload("s1", "m1", 0, &file("a")).unwrap();
        store.record_upload("s1", "m1", 3, &file("b")).unwrap();
        store.record_upload("s1", "m10", 0, &file("c")).unwrap();
        assert_eq!(store.uploaded_file("s1", "m1", 3).unwrap(), Some(file("b")));
        assert_eq!(store.uploaded_file("s1", "m1", 1).unwrap(), None);
        store.forget_uploads("s1", "m1").unwrap();
        assert_eq!(store.uploaded_file("s1", "m1", 0).unwrap(), None);
        assert_eq!(
            store.uploaded_file("s1", "m10", 0).unwrap(),
            Some(file("c")),
            "another message"
        );
    }
}
