//! The one error type of the SOPS format core. Messages name the file (the caller's display
//! name) and, for key problems, the recipients tried; they never contain plaintext values.

/// Everything that can go wrong reading, decrypting or writing a SOPS file.
#[derive(Debug, thiserror::Error)]
pub enum SopsError {
    /// The document could not be parsed in the given format.
    #[error("{file}: malformed {format} document: {reason}")]
    Malformed {
        /// Display name of the file.
        file: String,
        /// `YAML`, `JSON` or `dotenv`.
        format: &'static str,
        /// What is wrong (never a value).
        reason: String,
    },
    /// The document has no `sops` metadata.
    #[error("{file}: not a SOPS-encrypted file (no `sops` metadata)")]
    NotEncrypted {
        /// Display name of the file.
        file: String,
    },
    /// A plaintext document already carries a top-level `sops` key.
    #[error("{file}: the document already has a top-level `sops` key (already encrypted?)")]
    AlreadyEncrypted {
        /// Display name of the file.
        file: String,
    },
    /// The `sops` metadata block is invalid.
    #[error("{file}: invalid sops metadata: {reason}")]
    Metadata {
        /// Display name of the file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The MAC does not match the content: the file was modified or corrupted.
    #[error("{file}: MAC mismatch: {reason}")]
    MacMismatch {
        /// Display name of the file.
        file: String,
        /// Details (e.g. "the file has no MAC").
        reason: String,
    },
    /// No master key could unwrap the data key.
    #[error("{file}: could not decrypt the data key with any available key; tried: {}", tried.join("; "))]
    NoKey {
        /// Display name of the file.
        file: String,
        /// One entry per recipient tried (kind, recipient, why it failed).
        tried: Vec<String>,
    },
    /// A value could not be decrypted or has an invalid encrypted form.
    #[error("{file}: cannot decrypt the value at `{path}`: {reason}")]
    Value {
        /// Display name of the file.
        file: String,
        /// Key path of the value (`a:b:`).
        path: String,
        /// Why (never the value).
        reason: String,
    },
    /// Wrapping the data key for a recipient failed.
    #[error("cannot encrypt the data key for {recipient}: {reason}")]
    Wrap {
        /// The recipient.
        recipient: String,
        /// Why.
        reason: String,
    },
    /// The encryption configuration is invalid.
    #[error("invalid encryption settings: {0}")]
    Config(String),
    /// A key path given to get/set/remove is invalid for the document.
    #[error("{file}: {reason}")]
    Path {
        /// Display name of the file.
        file: String,
        /// Why.
        reason: String,
    },
    /// A feature the file needs is not available in this build or not implemented.
    #[error("{0}")]
    Unsupported(String),
}

/// Result alias of the SOPS core.
pub type Result<T> = std::result::Result<T, SopsError>;
