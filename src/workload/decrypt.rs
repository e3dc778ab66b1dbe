//! AES-256 decryption of the payload (RustCrypto `aes`, AES-NI or VAES picked at run time):
//! it streams the whole ciphertext through the CPU and writes as much plaintext, so a
//! neighbour filling the caches or the memory bus slows it at the same clock.

use aes::Aes256;
use aes::cipher::block_padding::{Padding, Pkcs7};
use aes::cipher::{BlockModeDecrypt, KeyIvInit, StreamCipher};
use serde_json::Value;

use super::aes_fused::Keys;
use super::fixture::{IV, KEY};
use super::{Blocks, Workload, WorkloadError};

/// Bytes decrypted in one timed block (see [`Blocks`]): 4096 AES blocks, 64 blocks of the
/// 4 MiB payload, each about 15 µs here, so two clock reads cost about 0.3%.
pub const BYTES_PER_BLOCK: usize = 64 << 10;
/// Bytes of one AES block: the op that `ns_per_op` is per.
pub const AES_BLOCK_BYTES: usize = 16;

type AesBlock = aes::Block;

fn blocks_for(bytes: usize) -> Blocks {
    Blocks::new(
        bytes.div_ceil(BYTES_PER_BLOCK),
        (BYTES_PER_BLOCK / AES_BLOCK_BYTES) as u64,
    )
}

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

/// Decrypts `ciphertext` (AES-256-CBC, PKCS#7) into `out` with `keys` ([`super::aes_fused`])
/// in timed blocks of [`BYTES_PER_BLOCK`] (a shorter last block is decrypted but not timed);
/// returns the plaintext's length. The same bytes as [`decrypt_cbc_into`] (the `cbc` crate),
/// which the tests check.
pub fn decrypt_cbc_timed(
    keys: &Keys,
    ciphertext: &[u8],
    out: &mut [u8],
    blocks: &mut Blocks,
) -> Result<usize, String> {
    let not_blocks = || "ciphertext is not whole AES blocks or its PKCS#7 padding is wrong";
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(AES_BLOCK_BYTES) {
        return Err(not_blocks().into());
    }
    let out = &mut out[..ciphertext.len()];
    let mut previous = IV;
    blocks.clear();
    for (from, to) in ciphertext
        .chunks(BYTES_PER_BLOCK)
        .zip(out.chunks_mut(BYTES_PER_BLOCK))
    {
        let mut decrypt = || keys.cbc_decrypt_b2b(previous, from, to);
        previous = match from.len() == BYTES_PER_BLOCK {
            true => blocks.time(decrypt),
            false => decrypt(),
        };
    }
    let (output, _) = AesBlock::slice_as_chunks(out);
    let padded = &output[output.len() - 1..];
    let last = Pkcs7::unpad_blocks(padded).map_err(|_| not_blocks().to_string())?;
    Ok(ciphertext.len() - AES_BLOCK_BYTES + last.len())
}

/// AES-256-CBC decryption into a buffer allocated in preparation, timed in blocks, by
/// [`super::aes_fused`] (rounds and XOR in registers, as OpenSSL's).
pub struct Cbc {
    ciphertext: Vec<u8>,
    plaintext: Vec<u8>,
    blocks: Blocks,
    keys: Keys,
}

impl Cbc {
    pub const NAME: &'static str = "decrypt-cbc";
    pub fn new(ciphertext: &[u8]) -> Self {
        Cbc {
            ciphertext: ciphertext.to_vec(),
            plaintext: vec![0; ciphertext.len()],
            blocks: blocks_for(ciphertext.len()),
            keys: Keys::new(&KEY),
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
        let len = decrypt_cbc_timed(
            &self.keys,
            &self.ciphertext,
            &mut self.plaintext,
            &mut self.blocks,
        )
        .map_err(|e| WorkloadError::new(Self::NAME, e))?;
        Ok(checksum(&self.plaintext[..len]))
    }

    fn ns_per_op(&mut self) -> Option<f64> {
        self.blocks.median_ns_per_op()
    }
}

/// AES-256-CTR (128-bit big-endian counter starting at the IV) decryption, by
/// [`super::aes_fused`] (counters, rounds and XOR in registers, as OpenSSL's). There is no
/// shipped CTR blob: preparation encrypts the payload (with the `ctr` crate, so each run is
/// checked against it), and each run decrypts it.
pub struct Ctr {
    ciphertext: Vec<u8>,
    plaintext: Vec<u8>,
    blocks: Blocks,
    keys: Keys,
}

type Aes256Ctr = ctr::Ctr128BE<Aes256>;

impl Ctr {
    pub const NAME: &'static str = "decrypt-ctr";
    pub fn new(plaintext: &[u8]) -> Self {
        let mut ciphertext = plaintext.to_vec();
        Aes256Ctr::new(&KEY.into(), &IV.into()).apply_keystream(&mut ciphertext);
        Ctr {
            plaintext: vec![0; ciphertext.len()],
            blocks: blocks_for(ciphertext.len()),
            ciphertext,
            keys: Keys::new(&KEY),
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
    /// The keystream in timed blocks of [`BYTES_PER_BLOCK`]; the shorter last one untimed.
    fn run(&mut self) -> Result<u64, WorkloadError> {
        let mut counter = u128::from_be_bytes(IV);
        self.blocks.clear();
        let chunks = self.ciphertext.chunks(BYTES_PER_BLOCK);
        for (from, to) in chunks.zip(self.plaintext.chunks_mut(BYTES_PER_BLOCK)) {
            let mut apply = || self.keys.apply_b2b(counter, from, to);
            counter = match from.len() == BYTES_PER_BLOCK {
                true => self.blocks.time(apply),
                false => apply(),
            };
        }
        Ok(checksum(&self.plaintext))
    }

    fn ns_per_op(&mut self) -> Option<f64> {
        self.blocks.median_ns_per_op()
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
        Ok(super::json::serde_checksum(&value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::fixture::{Fixture, encrypt_cbc};
    use crate::workload::payload::{ID_SUM, RECORDS};

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
    fn decrypting_in_timed_blocks_gives_the_same_bytes() {
        let fixture = Fixture::shipped();
        let mut whole = vec![0; fixture.ciphertext.len()];
        let mut timed = vec![0; fixture.ciphertext.len()];
        let mut blocks = blocks_for(fixture.ciphertext.len());
        let keys = Keys::new(&KEY);
        let len = decrypt_cbc_into(&fixture.ciphertext, &mut whole).unwrap();
        assert_eq!(
            decrypt_cbc_timed(&keys, &fixture.ciphertext, &mut timed, &mut blocks),
            Ok(len)
        );
        assert_eq!(whole[..len], timed[..len]);
        assert_eq!(&timed[..len], &fixture.json[..]);
        // Every whole 64 KiB block was timed.
        assert_eq!(
            blocks.times_ns.len(),
            fixture.ciphertext.len() / BYTES_PER_BLOCK
        );
        // A short message, one block, no whole timed block, padding still checked.
        let short = encrypt_cbc(b"[1,2,3]");
        assert_eq!(
            decrypt_cbc_timed(&keys, &short, &mut timed, &mut blocks),
            Ok(7)
        );
        assert_eq!(&timed[..7], b"[1,2,3]");
        assert!(decrypt_cbc_timed(&keys, &[], &mut timed, &mut blocks).is_err());
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
