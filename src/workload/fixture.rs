//! The JSON payload the JSON and decrypt workloads run on, and its AES-256-CBC twin.
//!
//! The payload is a synthetic API response generated from a fixed seed, so the shipped
//! files in `fixtures/` can be rebuilt byte for byte (`dynoprobe fixtures`) and checked.
//! A user's own JSON can stand in for it; its encrypted twin is then made in memory.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use aes::Aes256;
use aes::cipher::{BlockModeEncrypt, KeyIvInit, block_padding::Pkcs7};
use serde::{Deserialize, Serialize};

/// AES-256 key of NIST SP 800-38A, F.2.5 (CBC-AES256): a published test key, not a secret.
pub const KEY: [u8; 32] = [
    0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae, 0xf0, 0x85, 0x7d, 0x77, 0x81,
    0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61, 0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4,
];
/// Initialisation vector of NIST SP 800-38A, F.2.5.
pub const IV: [u8; 16] = [
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
];

/// Number of records in the generated payload (the length of its top-level array).
pub const RECORDS: u64 = 4_200;
/// Sum of the `id` fields of the generated payload's records.
pub const ID_SUM: u64 = 4_314_657_871;

const SEED: u64 = 0x6479_6e6f_7072_6f62; // "dynoprob"

static SHIPPED_JSON: &[u8] = include_bytes!("../../fixtures/payload.json");
static SHIPPED_CIPHERTEXT: &[u8] = include_bytes!("../../fixtures/payload.json.enc");

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
    /// The payload shipped in `fixtures/` and compiled into the crate.
    Shipped,
    /// A user's own file (`--fixture PATH`).
    File(PathBuf),
}

/// Why a user's fixture could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// The file could not be read (missing, no permission, …).
    #[error("cannot read fixture {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The path names a directory.
    #[error("fixture {path} is a directory; expected a JSON file")]
    Directory { path: PathBuf },
    /// The file is not JSON; the message carries the line and column.
    #[error("fixture {path} is not valid JSON: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl Fixture {
    /// The shipped payload (4+ MiB) and its shipped ciphertext, compiled into the crate.
    pub fn shipped() -> Fixture {
        Fixture {
            json: Cow::Borrowed(SHIPPED_JSON),
            ciphertext: Cow::Borrowed(SHIPPED_CIPHERTEXT),
            origin: Origin::Shipped,
        }
    }

    /// Loads a user's JSON file, checks that it parses, and encrypts it in memory.
    pub fn load(path: &Path) -> Result<Fixture, FixtureError> {
        if path.is_dir() {
            return Err(FixtureError::Directory { path: path.into() });
        }
        let json = std::fs::read(path).map_err(|source| FixtureError::Read {
            path: path.into(),
            source,
        })?;
        Fixture::from_json(json, Origin::File(path.into())).map_err(|source| FixtureError::Json {
            path: path.into(),
            source,
        })
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

/// Encrypts `plaintext` with AES-256-CBC, PKCS#7 padding, [`KEY`] and [`IV`].
pub fn encrypt_cbc(plaintext: &[u8]) -> Vec<u8> {
    cbc::Encryptor::<Aes256>::new(&KEY.into(), &IV.into()).encrypt_padded_vec::<Pkcs7>(plaintext)
}

/// Lower-case hex, as `openssl enc -K/-iv` takes it and `fixtures/*.hex` hold it.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One record of the generated payload: the shape of a typical web API's user listing.
/// The typed JSON workloads parse into this.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub id: u64,
    pub uuid: String,
    pub name: String,
    pub email: String,
    pub active: bool,
    pub score: f64,
    pub balance_cents: i64,
    pub created_at: String,
    pub manager_id: Option<u64>,
    pub tags: Vec<String>,
    pub bio: String,
    pub address: Address,
    pub preferences: Preferences,
    pub orders: Vec<Order>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Address {
    pub street: String,
    pub city: String,
    pub country: String,
    pub postcode: String,
    pub geo: Geo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Geo {
    pub lat: f64,
    pub lon: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preferences {
    pub newsletter: bool,
    pub theme: Option<String>,
    pub locale: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub id: u64,
    pub status: String,
    pub placed_at: String,
    pub total: f64,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub sku: String,
    pub qty: u32,
    pub unit_price: f64,
}

/// Builds the payload: [`RECORDS`] records, serialised compactly as one JSON array.
pub fn generate_json() -> Vec<u8> {
    let mut rng = SplitMix64(SEED);
    let records: Vec<Record> = (0..RECORDS).map(|i| record(&mut rng, i)).collect();
    // Serialising plain structs cannot fail; an error here would be a serde_json bug.
    serde_json::to_vec(&records).unwrap_or_default()
}

const FIRST: &[&str] = &[
    "Ada", "Grace", "Linus", "Zoë", "José", "Björn", "Chloé", "Nguyễn", "Søren", "Ōta", "Amélie",
    "Dmitrij", "Aïsha", "Ingrid", "Mateus", "Yuki",
];
const LAST: &[&str] = &[
    "Lovelace",
    "Hopper",
    "O'Brien",
    "Müller",
    "García",
    "Kowalski",
    "Østergaard",
    "Dvořák",
    "Smith",
    "Tanaka",
    "Ndiaye",
    "Rossi",
    "Løkke",
    "Fernández",
];
const CITIES: &[(&str, &str)] = &[
    ("Zürich", "CH"),
    ("São Paulo", "BR"),
    ("東京", "JP"),
    ("Kraków", "PL"),
    ("Αθήνα", "GR"),
    ("Reykjavík", "IS"),
    ("Montréal", "CA"),
    ("Dublin", "IE"),
    ("Москва", "RU"),
    ("Cape Town", "ZA"),
];
const WORDS: &[&str] = &[
    "latency",
    "tail",
    "dyno",
    "cache",
    "naïve",
    "café",
    "\"quoted\"",
    "back\\slash",
    "tab\there",
    "new\nline",
    "über",
    "日本語",
    "emoji 😀",
    "Ελληνικά",
    "control\u{1}char",
    "résumé",
    "queue",
    "steal",
    "throttle",
    "neighbour",
    "<html>",
    "a/b",
    "100%",
    "C:\\temp",
];
const TAGS: &[&str] = &[
    "admin",
    "beta",
    "vip",
    "trial",
    "churn-risk",
    "eu",
    "us",
    "apac",
    "mobile",
    "api",
];
const STATUSES: &[&str] = &["pending", "paid", "shipped", "delivered", "refunded"];
const THEMES: &[&str] = &["dark", "light", "solarized"];
const LOCALES: &[&str] = &["en-GB", "de-CH", "pt-BR", "ja-JP", "fr-CA", "el-GR"];

fn record(rng: &mut SplitMix64, index: u64) -> Record {
    let first = rng.pick(FIRST);
    let last = rng.pick(LAST);
    let (city, country) = rng.pick(CITIES);
    let id = 1_000_000 + index * 13 + rng.below(13);
    let orders = (0..rng.below(5))
        .map(|n| order(rng, id * 10 + n))
        .collect::<Vec<_>>();
    Record {
        id,
        uuid: format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            rng.next() as u32,
            rng.below(1 << 16),
            rng.below(1 << 12),
            0x8000 | rng.below(1 << 14),
            rng.below(1 << 48)
        ),
        name: format!("{first} {last}"),
        email: format!(
            "{}.{}{}@example.com",
            ascii_lower(first),
            ascii_lower(last),
            rng.below(100)
        ),
        active: rng.below(4) != 0,
        score: rng.unit(),
        balance_cents: rng.below(2_000_000) as i64 - 500_000,
        created_at: timestamp(rng),
        manager_id: (rng.below(3) != 0).then(|| 1_000_000 + rng.below(RECORDS) * 13),
        tags: (0..rng.below(4))
            .map(|_| rng.pick(TAGS).to_string())
            .collect(),
        bio: (0..8 + rng.below(24))
            .map(|_| rng.pick(WORDS))
            .collect::<Vec<_>>()
            .join(" "),
        address: Address {
            street: format!("{} {} Street", 1 + rng.below(400), rng.pick(LAST)),
            city: city.to_string(),
            country: country.to_string(),
            postcode: format!("{:05}", rng.below(100_000)),
            geo: Geo {
                lat: (rng.below(180_000_000) as f64 - 90_000_000.0) / 1e6,
                lon: (rng.below(360_000_000) as f64 - 180_000_000.0) / 1e6,
            },
        },
        preferences: Preferences {
            newsletter: rng.below(2) == 0,
            theme: (rng.below(3) != 0).then(|| rng.pick(THEMES).to_string()),
            locale: rng.pick(LOCALES).to_string(),
        },
        orders,
    }
}

fn order(rng: &mut SplitMix64, id: u64) -> Order {
    let items: Vec<Item> = (0..1 + rng.below(4))
        .map(|_| Item {
            sku: format!("SKU-{:06}", rng.below(1_000_000)),
            qty: 1 + rng.below(5) as u32,
            unit_price: (99 + rng.below(20_000)) as f64 / 100.0,
        })
        .collect();
    let total_cents: f64 = items
        .iter()
        .map(|i| (i.unit_price * 100.0).round() * f64::from(i.qty))
        .sum();
    Order {
        id,
        status: rng.pick(STATUSES).to_string(),
        placed_at: timestamp(rng),
        total: total_cents / 100.0,
        items,
    }
}

fn timestamp(rng: &mut SplitMix64) -> String {
    format!(
        "20{:02}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        18 + rng.below(8),
        1 + rng.below(12),
        1 + rng.below(28),
        rng.below(24),
        rng.below(60),
        rng.below(60),
        rng.below(1000)
    )
}

fn ascii_lower(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphabetic)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// SplitMix64 (Steele, Lea and Flood 2014): tiny, fast, and identical on every platform,
/// which is all the fixture and the pointer chase need from a random source.
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..bound` (`bound > 0`), by multiply-shift (Lemire); bias is < 2^-40 here.
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(bound)) >> 64) as u64
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generator_reproduces_the_shipped_files_byte_for_byte() {
        let json = generate_json();
        let shipped = Fixture::shipped();
        assert!(
            json == *shipped.json,
            "fixtures/payload.json differs from the generator"
        );
        assert!(
            encrypt_cbc(&json) == *shipped.ciphertext,
            "fixtures/payload.json.enc differs from the generator"
        );
    }

    #[test]
    fn the_payload_is_bigger_than_l2_and_has_the_known_records() {
        let shipped = Fixture::shipped();
        assert!(
            shipped.json.len() >= 4 << 20,
            "{} bytes",
            shipped.json.len()
        );
        let records: Vec<Record> = serde_json::from_slice(&shipped.json).unwrap();
        assert_eq!(records.len() as u64, RECORDS);
        assert_eq!(records.iter().map(|r| r.id).sum::<u64>(), ID_SUM);
        let text = std::str::from_utf8(&shipped.json).unwrap();
        for needle in [
            r#"\""#, r"\\", r"\n", r"\t", r"\u0001", "東京", "😀", "null",
        ] {
            assert!(text.contains(needle), "payload lacks {needle}");
        }
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
        let message = Fixture::load(&bad).unwrap_err().to_string();
        assert!(message.contains("bad.json"), "{message}");
        assert!(message.contains("line 3 column 2"), "{message}");
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
