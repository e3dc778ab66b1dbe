//! AES-256 decryption (RustCrypto `aes`, with AES-NI/VAES picked at run time) of the payload.
//!
//! Decryption streams the whole ciphertext through the CPU and writes as much plaintext:
//! a neighbour that fills the caches or the memory bus makes it slower at the same clock.

use aes::Aes256;
use aes::cipher::{BlockModeDecrypt, KeyIvInit, StreamCipher, block_padding::Pkcs7};
use serde_json::Value;

use super::fixture::{IV, KEY};
use super::{Workload, WorkloadError};

/// Bytes between the words [`checksum`] samples: one 8-byte word per 4 KiB page, so every
/// page of plaintext must have been written. Denser sampling (every 512 bytes) measured 9% of
/// a `decrypt-cbc` run here: each sample is a cache miss once 4 MiB has streamed past.
pub const SAMPLE_STRIDE_BYTES: usize = 4096;

/// The decrypt workloads' checksum: the plaintext length plus, wrapping, the little-endian
/// `u64` at every [`SAMPLE_STRIDE_BYTES`]-th offset. Sampling (rather than hashing every byte)
/// keeps the proof of work to about 1% of the decryption it proves.
pub fn checksum(plaintext: &[u8]) -> u64 {
    plaintext
        .chunks(SAMPLE_STRIDE_BYTES)
        .filter_map(|chunk| chunk.first_chunk::<8>())
        .map(|word| u64::from_le_bytes(*word))
        .fold(plaintext.len() as u64, u64::wrapping_add)
}

/// Decrypts `ciphertext` (AES-256-CBC, PKCS#7) into `out`, which must be at least as long;
/// returns the plaintext's length.
pub fn decrypt_cbc_into(ciphertext: &[u8], out: &mut [u8]) -> Result<usize, String> {
    cbc::Decryptor::<Aes256>::new(&KEY.into(), &IV.into())
        .decrypt_padded_b2b::<Pkcs7>(ciphertext, out)
        .map(<[u8]>::len)
        .map_err(|_| "ciphertext is not whole AES blocks or its PKCS#7 padding is wrong".into())
}

/// AES-256-CBC decryption into a buffer allocated in preparation.
pub struct Cbc {
    ciphertext: Vec<u8>,
    plaintext: Vec<u8>,
}

impl Cbc {
    pub const NAME: &'static str = "decrypt-cbc";
    pub fn new(ciphertext: &[u8]) -> Self {
        Cbc {
            ciphertext: ciphertext.to_vec(),
            plaintext: vec![0; ciphertext.len()],
        }
    }
}

impl Workload for Cbc {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn bytes_per_run(&self) -> u64 {
        self.ciphertext.len() as u64
    }
    fn run(&mut self) -> Result<u64, WorkloadError> {
        let len = decrypt_cbc_into(&self.ciphertext, &mut self.plaintext)
            .map_err(|e| WorkloadError::new(Self::NAME, e))?;
        Ok(checksum(&self.plaintext[..len]))
    }
}

/// AES-256-CTR (128-bit big-endian counter starting at the IV) decryption. There is no
/// shipped CTR blob: preparation encrypts the payload, and each run decrypts it.
pub struct Ctr {
    ciphertext: Vec<u8>,
    plaintext: Vec<u8>,
}

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

impl Ctr {
    pub const NAME: &'static str = "decrypt-ctr";
    pub fn new(plaintext: &[u8]) -> Self {
        let mut ciphertext = plaintext.to_vec();
        Aes256Ctr::new(&KEY.into(), &IV.into()).apply_keystream(&mut ciphertext);
        Ctr {
            plaintext: vec![0; ciphertext.len()],
            ciphertext,
        }
    }
}

impl Workload for Ctr {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn bytes_per_run(&self) -> u64 {
        self.ciphertext.len() as u64
    }
    fn run(&mut self) -> Result<u64, WorkloadError> {
        Aes256Ctr::new(&KEY.into(), &IV.into())
            .try_apply_keystream_b2b(&self.ciphertext, &mut self.plaintext)
            .map_err(|e| WorkloadError::new(Self::NAME, e))?;
        Ok(checksum(&self.plaintext))
    }
}

/// Decrypt the CBC blob, then parse the plaintext with serde_json into a `Value`: what an
/// endpoint serving an encrypted cached response does. Checksum as the JSON workloads'.
pub struct DecryptParse {
    ciphertext: Vec<u8>,
    plaintext: Vec<u8>,
}

impl DecryptParse {
    pub const NAME: &'static str = "decrypt-parse";
    pub fn new(ciphertext: &[u8]) -> Self {
        DecryptParse {
            ciphertext: ciphertext.to_vec(),
            plaintext: vec![0; ciphertext.len()],
        }
    }
}

impl Workload for DecryptParse {
    fn name(&self) -> &'static str {
        Self::NAME
    }
    fn bytes_per_run(&self) -> u64 {
        self.ciphertext.len() as u64
    }
    fn run(&mut self) -> Result<u64, WorkloadError> {
        let len = decrypt_cbc_into(&self.ciphertext, &mut self.plaintext)
            .map_err(|e| WorkloadError::new(Self::NAME, e))?;
        let value: Value = serde_json::from_slice(&self.plaintext[..len])
            .map_err(|e| WorkloadError::new(Self::NAME, e))?;
        let records = value.as_array().map_or(1, |a| a.len() as u64);
        let ids = value.as_array().map_or(0, |a| {
            a.iter()
                .filter_map(|r| r.get("id").and_then(Value::as_u64))
                .fold(0, u64::wrapping_add)
        });
        Ok(super::json::checksum(records, ids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::fixture::{Fixture, ID_SUM, RECORDS, encrypt_cbc};

    #[test]
    fn checksum_samples_one_word_per_stride() {
        let mut bytes = vec![0u8; 2 * 4096 + 6];
        bytes[0] = 1;
        bytes[4096] = 2;
        bytes[4097] = 1; // second byte of the second word: 256
        bytes[100] = 9; // between samples: not seen
        bytes[8192] = 3; // a 6-byte tail chunk holds no whole word: not sampled
        assert_eq!(checksum(&bytes), 8198 + 1 + 2 + 256);
    }

    #[test]
    fn decrypting_the_shipped_blob_gives_the_shipped_json() {
        let fixture = Fixture::shipped();
        let expected = checksum(&fixture.json);
        assert_eq!(Cbc::new(&fixture.ciphertext).run(), Ok(expected));
        assert_eq!(Ctr::new(&fixture.json).run(), Ok(expected));
        assert_eq!(
            DecryptParse::new(&fixture.ciphertext).run(),
            Ok(super::super::json::checksum(RECORDS, ID_SUM))
        );
    }

    #[test]
    fn ctr_is_not_a_copy_of_the_plaintext() {
        let plaintext = b"sixteen byte msg and some more";
        let ctr = Ctr::new(plaintext);
        assert_ne!(&ctr.ciphertext[..], &plaintext[..]);
    }

    #[test]
    fn truncated_ciphertext_is_an_error_not_a_panic() {
        let ciphertext = encrypt_cbc(b"[1,2,3]");
        let mut cbc = Cbc::new(&ciphertext[..ciphertext.len() - 1]);
        let error = cbc.run().unwrap_err();
        assert!(error.reason.contains("padding"), "{error}");
    }
}
