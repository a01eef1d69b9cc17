//! The store seam: what the core and the adapters need from storage, as narrow traits, and
//! the one error they share. `store` implements them on sled; `memory` (tests only) in
//! plain maps.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The storage engine failed (I/O, a full disk, a closed database).
    #[error("storage: {0}")]
    Engine(String),
    #[error("a stored record could not be read ({0}); the store may be damaged")]
    Corrupt(String),
    #[error("flush failed: {0}")]
    Flush(String),
    #[error("{0}")]
    Schema(String),
    #[error("cannot prepare the data directory {path}: {error}")]
    DataDir { path: String, error: std::io::Error },
    /// Only from `Store::fail_lookups`, which tests use to see a store failure answered.
    #[error("injected lookup failure")]
    Injected,
}
