//! The synthetic payload the JSON and decrypt workloads run on: a typical web API's user
//! listing (strings with escapes and non-ASCII text, numbers, nested objects and arrays),
//! generated from a fixed seed so that every build makes the same bytes.

use serde::{Deserialize, Serialize};

use super::rng::SplitMix64;

/// Number of records in the generated payload (the length of its top-level array).
pub const RECORDS: u64 = 4_200;
/// Sum of the `id` fields of the generated payload's records.
pub const ID_SUM: u64 = 4_314_657_871;

const SEED: u64 = 0x6479_6e6f_7072_6f62; // "dynoprob"

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::fixture::{Fixture, encrypt_cbc};

    #[test]
    fn the_generator_reproduces_the_shipped_files_byte_for_byte() {
        let file = |name: &str| {
            std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
        };
        let shipped = Fixture::shipped();
        assert!(
            file("fixtures/payload.json") == *shipped.json,
            "fixtures/payload.json differs from the generator"
        );
        assert!(
            file("fixtures/payload.json.enc") == *shipped.ciphertext,
            "fixtures/payload.json.enc differs from the generator"
        );
        assert!(encrypt_cbc(&generate_json()) == *shipped.ciphertext);
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
}
