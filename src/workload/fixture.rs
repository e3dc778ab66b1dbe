//! The JSON payload the JSON and decrypt workloads run on (the shipped synthetic one, which
//! `dynoprobe fixtures` rebuilds byte for byte, or a user's own), and its AES-256-CBC twin.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use aes::Aes256;
use aes::cipher::{BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};

/// AES-256 key of NIST SP 800-38A, F.2.5 (CBC-AES256): a published test key, not a secret.
pub const KEY: [u8; 32] = [
    0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae, 0xf0, 0x85, 0x7d, 0x77, 0x81,
    0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61, 0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4,
];
/// Initialisation vector of NIST SP 800-38A, F.2.5.
pub const IV: [u8; 16] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
];

/// The shipped payload and its ciphertext, made at first use by [`super::payload`]'s
/// generator, which rebuilds `fixtures/payload.json` and `payload.json.enc` byte for byte (a
/// test checks): compiled in, the two files were 9.2 MB of a 17.6 MB binary.
static SHIPPED: std::sync::OnceLock<(Vec<u8>, Vec<u8>)> = std::sync::OnceLock::new();

/// The largest fixture loaded: the JSON workloads hold about 14 times the file while they
/// run (a 200 MB fixture took 2.8 GB of memory for one run), so 64 MiB already asks for
/// about 1 GB.
pub const MAX_FIXTURE_BYTES: u64 = 64 << 20;

/// A JSON payload and the same bytes encrypted with AES-256-CBC, PKCS#7, [`KEY`] and [`IV`].
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The plaintext JSON.
    pub json: Cow<'static, [u8]>,
    /// `json` encrypted exactly as `openssl enc -aes-256-cbc -K <KEY> -iv <IV>` does.
    pub ciphertext: Cow<'static, [u8]>,
    /// Where the JSON came from, for reports and error messages.
    pub origin: Origin,
}

/// Where a fixture's JSON came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The payload shipped in `fixtures/`, generated in the process.
    Shipped,
    /// A user's own file (`--fixture PATH`).
    File(PathBuf),
}

/// Why a user's fixture could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// The file could not be read (missing, no permission, …).
    #[error("cannot read fixture {path}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The path names a directory.
    #[error("fixture {path} is a directory; expected a JSON file")]
    Directory { path: PathBuf },
    /// The path names a FIFO, a device (`/dev/zero`) or a socket: reading it could block
    /// forever or never end.
    #[error("fixture {path} is not a regular file (a pipe or a device?); expected a JSON file")]
    NotAFile { path: PathBuf },
    /// The file is larger than [`MAX_FIXTURE_BYTES`].
    #[error(
        "fixture {path} is {bytes} bytes; at most {MAX_FIXTURE_BYTES} (64 MiB): the JSON \
         workloads hold about 14 times the file while they run (a 200 MB file took 2.8 GB)"
    )]
    TooLarge { path: PathBuf, bytes: u64 },
    /// JSON that one of the value parsers refuses: every JSON workload would be skipped.
    #[error("fixture {path} is JSON that {parser} refuses: {reason}")]
    Refused {
        path: PathBuf,
        parser: &'static str,
        reason: String,
    },
    /// The file is not JSON; the message carries the line and column.
    #[error("fixture {path} is not valid JSON")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl Fixture {
    /// The shipped payload (4+ MiB) and its ciphertext, the files of `fixtures/`: generated
    /// once per process, at first use.
    pub fn shipped() -> Fixture {
        let (json, ciphertext) = SHIPPED.get_or_init(|| {
            let json = super::payload::generate_json();
            let ciphertext = encrypt_cbc(&json);
            (json, ciphertext)
        });
        Fixture {
            json: Cow::Borrowed(json),
            ciphertext: Cow::Borrowed(ciphertext),
            origin: Origin::Shipped,
        }
    }

    /// Loads a user's JSON file, checks that it parses (with serde_json, and with both
    /// value parsers the JSON workloads use), and encrypts it in memory. Only a regular file
    /// of at most [`MAX_FIXTURE_BYTES`] is read.
    pub fn load(path: &Path) -> Result<Fixture, FixtureError> {
        use std::io::Read as _;
        let read = |source| FixtureError::Read {
            path: path.into(),
            source,
        };
        let kind = std::fs::metadata(path).map_err(read)?;
        if kind.is_dir() {
            return Err(FixtureError::Directory { path: path.into() });
        }
        if !kind.is_file() {
            return Err(FixtureError::NotAFile { path: path.into() });
        }
        if kind.len() > MAX_FIXTURE_BYTES {
            return Err(FixtureError::TooLarge {
                path: path.into(),
                bytes: kind.len(),
            });
        }
        let mut json = Vec::new();
        std::fs::File::open(path)
            .and_then(|file| file.take(MAX_FIXTURE_BYTES + 1).read_to_end(&mut json))
            .map_err(read)?;
        if json.len() as u64 > MAX_FIXTURE_BYTES {
            return Err(FixtureError::TooLarge {
                path: path.into(),
                bytes: kind.len().max(json.len() as u64),
            });
        }
        let fixture = Fixture::from_json(json, Origin::File(path.into())).map_err(|source| {
            FixtureError::Json {
                path: path.into(),
                source,
            }
        })?;
        for parser in [
            super::json::Parser::SerdeValue,
            super::json::Parser::SimdValue,
        ] {
            let mut parse = super::json::Parse::new(parser, &fixture.json);
            if let Err(error) = super::Workload::run(&mut parse) {
                return Err(FixtureError::Refused {
                    path: path.into(),
                    parser: parser.name(),
                    reason: error.to_string(),
                });
            }
        }
        Ok(fixture)
    }

    /// Checks that `json` parses (serde_json's error carries line and column) and encrypts it.
    pub fn from_json(json: Vec<u8>, origin: Origin) -> Result<Fixture, serde_json::Error> {
        serde_json::from_slice::<serde::de::IgnoredAny>(&json)?;
        Ok(Fixture {
            ciphertext: Cow::Owned(encrypt_cbc(&json)),
            json: Cow::Owned(json),
            origin,
        })
    }
}

impl Fixture {
    /// An identity of the JSON's bytes, `fnv1a64:` and 16 hex digits: two reports ran on the
    /// same payload when their digests and sizes match. FNV-1a, not a cryptographic hash:
    /// it tells payloads apart, it does not guard them.
    pub fn digest(&self) -> String {
        let hash = self.json.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        });
        format!("fnv1a64:{hash:016x}")
    }
}

/// Encrypts `plaintext` with AES-256-CBC, PKCS#7 padding, [`KEY`] and [`IV`].
pub fn encrypt_cbc(plaintext: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<Aes256>::new(&KEY.into(), &IV.into()).encrypt_padded_vec::<Pkcs7>(plaintext)
}

/// Lower-case hex, as `openssl enc -K/-iv` takes it and `fixtures/*.hex` hold it.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_is_fnv1a_of_the_json() {
        // FNV-1a 64 of "a" is 0xaf63dc4c8601ec8c (the published test vector).
        let a = Fixture::from_json(b"\"a\"".to_vec(), Origin::Shipped).unwrap();
        let quoted = a.digest();
        assert_eq!(quoted.len(), "fnv1a64:".len() + 16);
        let mut one = a.clone();
        one.json = std::borrow::Cow::Owned(b"a".to_vec());
        assert_eq!(one.digest(), "fnv1a64:af63dc4c8601ec8c");
        assert_ne!(quoted, Fixture::shipped().digest());
    }

    #[test]
    fn the_hex_files_hold_the_key_and_iv() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/");
        let read = |name: &str| std::fs::read_to_string(format!("{dir}{name}")).unwrap();
        assert_eq!(read("payload.key.hex").trim(), to_hex(&KEY));
        assert_eq!(read("payload.iv.hex").trim(), to_hex(&IV));
        assert_eq!(to_hex(&KEY).len(), 64);
    }

    #[test]
    fn user_fixtures_fail_with_the_file_and_position() {
        let dir = std::env::temp_dir().join(format!("dynoprobe-fixture-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "[1,\n 2,\n oops]").unwrap();
        let error = Fixture::load(&bad).unwrap_err();
        assert!(error.to_string().contains("bad.json"), "{error}");
        let cause = std::error::Error::source(&error).unwrap().to_string();
        assert!(cause.contains("line 3 column 2"), "{cause}");
        let message = Fixture::load(&dir).unwrap_err().to_string();
        assert!(message.contains("is a directory"), "{message}");
        let message = Fixture::load(&dir.join("missing.json"))
            .unwrap_err()
            .to_string();
        assert!(message.contains("cannot read fixture"), "{message}");
        let good = dir.join("good.json");
        std::fs::write(&good, r#"[{"id": 1}]"#).unwrap();
        let fixture = Fixture::load(&good).unwrap();
        assert_eq!(fixture.ciphertext.len(), 16);
        assert_eq!(fixture.origin, Origin::File(good));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
