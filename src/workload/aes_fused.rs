//! AES-256 CTR and CBC decryption with rounds and XOR in registers (VAES or AES-NI), as
//! OpenSSL's: the `ctr` and `cbc` crates, a pass over memory a step, ran at 0.63–0.66× `openssl
//! speed` (`benches/openssl.rs`). Their output byte for byte; they run it without AES-NI.

use aes::Aes256;
use aes::cipher::{BlockModeDecrypt, KeyIvInit, StreamCipher};

use crate::signal::machine::AesBackend;

/// An AES-256 key made ready for [`Keys::apply_b2b`] and [`Keys::cbc_decrypt_b2b`] on this
/// CPU: its encryption and decryption round keys, expanded once.
pub struct Keys {
    key: [u8; 32],
    #[cfg(target_arch = "x86_64")]
    expanded: Option<(x86::Schedule, AesBackend)>,
}

impl Keys {
    /// Expands `key` for the fastest backend this CPU has.
    pub fn new(key: &[u8; 32]) -> Keys {
        #[cfg(target_arch = "x86_64")]
        {
            let backend = Some(AesBackend::detect()).filter(|b| *b != AesBackend::Software);
            // SAFETY: the CPU has AES-NI whenever a backend was chosen.
            let expanded = backend.map(|b| (unsafe { x86::Schedule::of(key) }, b));
            Keys {
                key: *key,
                expanded,
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        Keys { key: *key }
    }

    /// Which code [`Keys::apply_b2b`] runs.
    pub fn backend(&self) -> AesBackend {
        #[cfg(target_arch = "x86_64")]
        if let Some((_, backend)) = self.expanded {
            return backend;
        }
        AesBackend::Software
    }

    /// `out[..input.len()]` = `input` XOR the keystream of the 128-bit big-endian `counter`
    /// and those after it; returns the counter after the last (partial) block.
    ///
    /// # Panics
    ///
    /// When `out` is shorter than `input`.
    pub fn apply_b2b(&self, counter: u128, input: &[u8], out: &mut [u8]) -> u128 {
        let out = &mut out[..input.len()];
        let next = counter.wrapping_add(input.len().div_ceil(16) as u128);
        #[cfg(target_arch = "x86_64")]
        if let Some((schedule, backend)) = &self.expanded {
            let keys = &schedule.encryption;
            // SAFETY: `backend` was chosen for features this CPU has.
            unsafe {
                match backend {
                    AesBackend::Vaes256 => x86::ctr_vaes256(keys, counter, input, out),
                    _ => x86::ctr_aesni(keys, counter, input, out),
                }
            }
            return next;
        }
        out.copy_from_slice(input);
        let iv = counter.to_be_bytes();
        ctr::Ctr128BE::<Aes256>::new(&self.key.into(), &iv.into()).apply_keystream(out);
        next
    }

    /// Decrypts the whole AES blocks of `input` (AES-256-CBC, no unpadding) into
    /// `out[..input.len()]`; `previous` is the IV, or the ciphertext block before `input`.
    /// Returns the last ciphertext block: the `previous` of the blocks that follow.
    ///
    /// # Panics
    ///
    /// When `input` is not whole blocks or `out` is shorter.
    pub fn cbc_decrypt_b2b(&self, previous: [u8; 16], input: &[u8], out: &mut [u8]) -> [u8; 16] {
        assert!(
            input.len().is_multiple_of(16),
            "CBC decrypts whole 16-byte blocks"
        );
        let out = &mut out[..input.len()];
        let last = input.last_chunk::<16>().copied().unwrap_or(previous);
        #[cfg(target_arch = "x86_64")]
        if let Some((schedule, backend)) = &self.expanded {
            let keys = &schedule.decryption;
            // SAFETY: `backend` was chosen for features this CPU has; whole blocks, and `out`
            // as long as `input`.
            unsafe {
                match backend {
                    AesBackend::Vaes256 => x86::cbc_vaes256(keys, previous, input, out),
                    _ => x86::cbc_aesni(keys, previous, input, out),
                }
            }
            return last;
        }
        let (from, _) = aes::Block::slice_as_chunks(input);
        let (to, _) = aes::Block::slice_as_chunks_mut(out);
        cbc::Decryptor::<Aes256>::new(&self.key.into(), &previous.into())
            .decrypt_blocks_b2b(from, to)
            .unwrap_or_else(|_| unreachable!("in and out are as long as each other"));
        last
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// The 15 round keys of AES-256.
    #[derive(Clone, Copy)]
    pub(super) struct RoundKeys([__m128i; 15]);

    /// A key's round keys for encryption (CTR) and decryption (CBC).
    #[derive(Clone, Copy)]
    pub(super) struct Schedule {
        pub(super) encryption: RoundKeys,
        pub(super) decryption: RoundKeys,
    }

    impl Schedule {
        /// Both schedules of `key`.
        ///
        /// # Safety
        ///
        /// The CPU must have AES-NI.
        #[target_feature(enable = "aes")]
        pub(super) unsafe fn of(key: &[u8; 32]) -> Schedule {
            // SAFETY: the caller's CPU has AES-NI.
            let encryption = unsafe { expand(key) };
            Schedule {
                encryption,
                decryption: decryption(&encryption),
            }
        }
    }

    /// The round keys in 256-bit registers, each twice, for VAES.
    #[target_feature(enable = "avx2")]
    fn wide(keys: &RoundKeys) -> [__m256i; 15] {
        let mut wide = [_mm256_setzero_si256(); 15];
        for (wide, key) in wide.iter_mut().zip(&keys.0) {
            *wide = _mm256_broadcastsi128_si256(*key);
        }
        wide
    }

    /// One step of the AES-256 key schedule (Intel's AES-NI white paper, `KEY_256_ASSIST_1`
    /// and `_2`): `previous` with its three left shifts folded in, XOR `word`.
    #[target_feature(enable = "aes")]
    fn fold(previous: __m128i, word: __m128i) -> __m128i {
        let mut t = previous;
        let mut shifted = _mm_slli_si128::<4>(previous);
        t = _mm_xor_si128(t, shifted);
        shifted = _mm_slli_si128::<4>(shifted);
        t = _mm_xor_si128(t, shifted);
        shifted = _mm_slli_si128::<4>(shifted);
        _mm_xor_si128(_mm_xor_si128(t, shifted), word)
    }

    /// The AES-256 key schedule.
    ///
    /// # Safety
    ///
    /// The CPU must have AES-NI.
    #[target_feature(enable = "aes")]
    unsafe fn expand(key: &[u8; 32]) -> RoundKeys {
        // SAFETY: `key` is 32 bytes: two unaligned 16-byte loads.
        let (mut a, mut b) = unsafe {
            let at = key.as_ptr().cast::<__m128i>();
            (_mm_loadu_si128(at), _mm_loadu_si128(at.add(1)))
        };
        // Even round keys from the odd one before (rotated, substituted, with the round
        // constant), odd ones from the even one before (substituted only).
        macro_rules! even {
            ($rcon:expr) => {{
                a = fold(
                    a,
                    _mm_shuffle_epi32::<0xff>(_mm_aeskeygenassist_si128::<$rcon>(b)),
                );
                a
            }};
        }
        macro_rules! odd {
            () => {{
                b = fold(
                    b,
                    _mm_shuffle_epi32::<0xaa>(_mm_aeskeygenassist_si128::<0>(a)),
                );
                b
            }};
        }
        let first = (a, b);
        RoundKeys([
            first.0,
            first.1,
            even!(0x01),
            odd!(),
            even!(0x02),
            odd!(),
            even!(0x04),
            odd!(),
            even!(0x08),
            odd!(),
            even!(0x10),
            odd!(),
            even!(0x20),
            odd!(),
            even!(0x40),
        ])
    }

    /// The counter block of `counter`: its 16 bytes big-endian.
    #[inline(always)]
    fn block(counter: u128) -> __m128i {
        let bytes = counter.to_be_bytes();
        // SAFETY: an unaligned load of 16 bytes from a 16-byte array.
        unsafe { _mm_loadu_si128(bytes.as_ptr().cast()) }
    }

    /// One AES round (`aesenc` or `aesdec`) of eight blocks with one key, as one piece of
    /// assembly: the compiler cannot split the eight (it took each block through all its
    /// rounds before the next, or two at a time, each round waiting on the last: 0.6× OpenSSL).
    macro_rules! round8 {
        ($op:literal, $x:ident, $key:expr) => {
            // SAFETY: register-only AES rounds; the CPU has AES-NI (the caller's target feature).
            unsafe {
                std::arch::asm!(
                    concat!(
                        $op, " {0}, {k}\n", $op, " {1}, {k}\n", $op, " {2}, {k}\n",
                        $op, " {3}, {k}\n", $op, " {4}, {k}\n", $op, " {5}, {k}\n",
                        $op, " {6}, {k}\n", $op, " {7}, {k}",
                    ),
                    inout(xmm_reg) $x[0], inout(xmm_reg) $x[1], inout(xmm_reg) $x[2],
                    inout(xmm_reg) $x[3], inout(xmm_reg) $x[4], inout(xmm_reg) $x[5],
                    inout(xmm_reg) $x[6], inout(xmm_reg) $x[7],
                    k = in(xmm_reg) $key,
                    options(pure, nomem, nostack, preserves_flags),
                )
            }
        };
    }

    /// Blocks per round of AES-NI: enough independent `aesenc`s to hide one's latency.
    const AESNI_BLOCKS: usize = 8;

    /// CTR with AES-NI, [`AESNI_BLOCKS`] blocks at a time, then block by block.
    ///
    /// # Safety
    ///
    /// The CPU must have AES-NI; `out` is as long as `input`.
    #[target_feature(enable = "aes,ssse3")]
    pub(super) unsafe fn ctr_aesni(
        keys: &RoundKeys,
        mut counter: u128,
        input: &[u8],
        out: &mut [u8],
    ) {
        let k = &keys.0;
        let (chunks, tail) = input.as_chunks::<{ 16 * AESNI_BLOCKS }>();
        let (out_chunks, out_tail) = out.as_chunks_mut::<{ 16 * AESNI_BLOCKS }>();
        // As in `ctr_vaes256`: counters little-endian, stepped by a 64-bit add, then
        // byte-swapped; a chunk whose low 64 bits would carry takes the scalar path.
        let big_endian = _mm_setr_epi8(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
        let step = _mm_set_epi64x(0, 1);
        for (from, to) in chunks.iter().zip(out_chunks) {
            let mut x = [_mm_setzero_si128(); AESNI_BLOCKS];
            let (high, low) = ((counter >> 64) as u64, counter as u64);
            if low.checked_add(AESNI_BLOCKS as u64).is_some() {
                let mut next = _mm_set_epi64x(high as i64, low as i64);
                for b in x.iter_mut() {
                    *b = _mm_xor_si128(_mm_shuffle_epi8(next, big_endian), k[0]);
                    next = _mm_add_epi64(next, step);
                }
            } else {
                for (i, b) in x.iter_mut().enumerate() {
                    *b = _mm_xor_si128(block(counter.wrapping_add(i as u128)), k[0]);
                }
            }
            for key in &k[1..14] {
                round8!("aesenc", x, *key);
            }
            for (i, b) in x.iter().enumerate() {
                let stream = _mm_aesenclast_si128(*b, k[14]);
                // SAFETY: block i of a chunk of AESNI_BLOCKS blocks, in and out.
                unsafe {
                    let text = _mm_loadu_si128(from.as_ptr().cast::<__m128i>().add(i));
                    let to = to.as_mut_ptr().cast::<__m128i>().add(i);
                    _mm_storeu_si128(to, _mm_xor_si128(text, stream));
                }
            }
            counter = counter.wrapping_add(AESNI_BLOCKS as u128);
        }
        for (from, to) in tail.chunks(16).zip(out_tail.chunks_mut(16)) {
            let mut stream = [0u8; 16];
            // SAFETY: a 16-byte store into a 16-byte array.
            unsafe { _mm_storeu_si128(stream.as_mut_ptr().cast(), encrypt(k, block(counter))) };
            for ((to, from), key) in to.iter_mut().zip(from).zip(stream) {
                *to = from ^ key;
            }
            counter = counter.wrapping_add(1);
        }
    }

    /// The decryption round keys of `keys` (the equivalent inverse cipher): in reverse, the
    /// middle ones through InvMixColumns.
    #[target_feature(enable = "aes")]
    fn decryption(keys: &RoundKeys) -> RoundKeys {
        let mut inverse = keys.0;
        inverse.reverse();
        for key in &mut inverse[1..14] {
            *key = _mm_aesimc_si128(*key);
        }
        RoundKeys(inverse)
    }

    /// One block through the encryption rounds of `k`.
    #[inline(always)]
    fn encrypt(k: &[__m128i; 15], block: __m128i) -> __m128i {
        // SAFETY: called only from functions with the `aes` target feature.
        unsafe {
            let mut b = _mm_xor_si128(block, k[0]);
            for key in &k[1..14] {
                b = _mm_aesenc_si128(b, *key);
            }
            _mm_aesenclast_si128(b, k[14])
        }
    }

    /// One block through the decryption rounds of `k` (from [`decryption`]).
    #[inline(always)]
    fn decrypt(k: &[__m128i; 15], block: __m128i) -> __m128i {
        // SAFETY: called only from functions with the `aes` target feature.
        unsafe {
            let mut b = _mm_xor_si128(block, k[0]);
            for key in &k[1..14] {
                b = _mm_aesdec_si128(b, *key);
            }
            _mm_aesdeclast_si128(b, k[14])
        }
    }

    /// CBC decryption with AES-NI, [`AESNI_BLOCKS`] blocks at a time, then block by block.
    ///
    /// # Safety
    ///
    /// The CPU must have AES-NI; `input` is whole blocks, `out` as long.
    #[target_feature(enable = "aes,ssse3")]
    pub(super) unsafe fn cbc_aesni(
        keys: &RoundKeys,
        previous: [u8; 16],
        input: &[u8],
        out: &mut [u8],
    ) {
        let k = &keys.0;
        // SAFETY: a 16-byte load from a 16-byte array.
        let mut previous = unsafe { _mm_loadu_si128(previous.as_ptr().cast()) };
        let (chunks, tail) = input.as_chunks::<{ 16 * AESNI_BLOCKS }>();
        let (out_chunks, out_tail) = out.as_chunks_mut::<{ 16 * AESNI_BLOCKS }>();
        for (from, to) in chunks.iter().zip(out_chunks) {
            let at = from.as_ptr().cast::<__m128i>();
            let mut c = [_mm_setzero_si128(); AESNI_BLOCKS];
            let mut x = [_mm_setzero_si128(); AESNI_BLOCKS];
            for (i, (c, x)) in c.iter_mut().zip(x.iter_mut()).enumerate() {
                // SAFETY: block i of a chunk of AESNI_BLOCKS blocks.
                *c = unsafe { _mm_loadu_si128(at.add(i)) };
                *x = _mm_xor_si128(*c, k[0]);
            }
            for key in &k[1..14] {
                round8!("aesdec", x, *key);
            }
            for (i, b) in x.iter().enumerate() {
                let before = if i == 0 { previous } else { c[i - 1] };
                let plain = _mm_xor_si128(_mm_aesdeclast_si128(*b, k[14]), before);
                // SAFETY: block i of a chunk of AESNI_BLOCKS blocks.
                unsafe { _mm_storeu_si128(to.as_mut_ptr().cast::<__m128i>().add(i), plain) };
            }
            previous = c[AESNI_BLOCKS - 1];
        }
        let (blocks, _) = tail.as_chunks::<16>();
        let (out_blocks, _) = out_tail.as_chunks_mut::<16>();
        for (from, to) in blocks.iter().zip(out_blocks) {
            // SAFETY: 16-byte loads and stores from and to 16-byte arrays.
            unsafe {
                let c = _mm_loadu_si128(from.as_ptr().cast());
                let plain = _mm_xor_si128(decrypt(k, c), previous);
                _mm_storeu_si128(to.as_mut_ptr().cast(), plain);
                previous = c;
            }
        }
    }

    /// CBC decryption with VAES, 2 × [`VAES_REGISTERS`] blocks at a time; the rest by
    /// [`cbc_aesni`]. A register's two blocks are XORed with the two ciphertext blocks before
    /// them: one unaligned load 16 bytes back.
    ///
    /// # Safety
    ///
    /// The CPU must have VAES, AVX2 and AES-NI; `input` is whole blocks, `out` as long.
    #[target_feature(enable = "vaes,avx2,aes,ssse3")]
    pub(super) unsafe fn cbc_vaes256(
        keys: &RoundKeys,
        previous: [u8; 16],
        input: &[u8],
        out: &mut [u8],
    ) {
        let k = wide(keys);
        // SAFETY: a 16-byte load from a 16-byte array.
        let mut before_chunk = unsafe { _mm_loadu_si128(previous.as_ptr().cast()) };
        let (chunks, tail) = input.as_chunks::<{ 32 * VAES_REGISTERS }>();
        let (out_chunks, out_tail) = out.as_chunks_mut::<{ 32 * VAES_REGISTERS }>();
        for (from, to) in chunks.iter().zip(out_chunks) {
            let at = from.as_ptr();
            let mut x = [_mm256_setzero_si256(); VAES_REGISTERS];
            for (i, b) in x.iter_mut().enumerate() {
                // SAFETY: register i of a chunk of VAES_REGISTERS × 32 bytes.
                let c = unsafe { _mm256_loadu_si256(at.add(32 * i).cast()) };
                *b = _mm256_xor_si256(c, k[0]);
            }
            for key in &k[1..14] {
                for b in x.iter_mut() {
                    *b = _mm256_aesdec_epi128(*b, *key);
                }
            }
            for (i, b) in x.iter().enumerate() {
                // SAFETY: the 32 bytes 16 before register i lie in the chunk but for i = 0,
                // whose first block comes from before the chunk.
                let before = unsafe {
                    match i {
                        0 => _mm256_set_m128i(_mm_loadu_si128(at.cast()), before_chunk),
                        _ => _mm256_loadu_si256(at.add(32 * i - 16).cast()),
                    }
                };
                let plain = _mm256_xor_si256(_mm256_aesdeclast_epi128(*b, k[14]), before);
                // SAFETY: register i of a chunk of VAES_REGISTERS × 32 bytes.
                unsafe { _mm256_storeu_si256(to.as_mut_ptr().add(32 * i).cast(), plain) };
            }
            // SAFETY: the chunk's last 16 bytes.
            before_chunk = unsafe { _mm_loadu_si128(at.add(32 * VAES_REGISTERS - 16).cast()) };
        }
        let mut previous = [0u8; 16];
        // SAFETY: a 16-byte store into a 16-byte array; this CPU has AES-NI; the tails are
        // whole blocks and as long as each other.
        unsafe {
            _mm_storeu_si128(previous.as_mut_ptr().cast(), before_chunk);
            cbc_aesni(keys, previous, tail, out_tail);
        }
    }

    /// 256-bit registers per round of VAES, two blocks each.
    const VAES_REGISTERS: usize = 8;

    /// CTR with VAES, 2 × [`VAES_REGISTERS`] blocks at a time; the rest by [`ctr_aesni`].
    ///
    /// # Safety
    ///
    /// The CPU must have VAES, AVX2 and AES-NI; `out` is as long as `input`.
    #[target_feature(enable = "vaes,avx2,aes,ssse3")]
    pub(super) unsafe fn ctr_vaes256(
        keys: &RoundKeys,
        mut counter: u128,
        input: &[u8],
        out: &mut [u8],
    ) {
        let k = wide(keys);
        let (chunks, tail) = input.as_chunks::<{ 32 * VAES_REGISTERS }>();
        let (out_chunks, out_tail) = out.as_chunks_mut::<{ 32 * VAES_REGISTERS }>();
        // Counters kept little-endian, two to a register, stepped by 64-bit adds and turned
        // big-endian by one byte shuffle: three instructions per register. A chunk whose low
        // 64 bits would carry takes the scalar path.
        let big_endian = _mm256_setr_epi8(
            15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0, //
            15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
        );
        let step = _mm256_set_epi64x(0, 2, 0, 2);
        let blocks_per_chunk = 2 * VAES_REGISTERS as u64;
        for (from, to) in chunks.iter().zip(out_chunks) {
            let mut x = [_mm256_setzero_si256(); VAES_REGISTERS];
            let (high, low) = ((counter >> 64) as u64, counter as u64);
            if low.checked_add(blocks_per_chunk).is_some() {
                let (high, low) = (high as i64, low as i64);
                let mut pair = _mm256_set_epi64x(high, low.wrapping_add(1), high, low);
                for b in x.iter_mut() {
                    *b = _mm256_xor_si256(_mm256_shuffle_epi8(pair, big_endian), k[0]);
                    pair = _mm256_add_epi64(pair, step);
                }
            } else {
                for (i, b) in x.iter_mut().enumerate() {
                    let low = block(counter.wrapping_add(2 * i as u128));
                    let high = block(counter.wrapping_add(2 * i as u128 + 1));
                    *b = _mm256_xor_si256(_mm256_set_m128i(high, low), k[0]);
                }
            }
            for key in &k[1..14] {
                for b in x.iter_mut() {
                    *b = _mm256_aesenc_epi128(*b, *key);
                }
            }
            for (i, b) in x.iter().enumerate() {
                let stream = _mm256_aesenclast_epi128(*b, k[14]);
                // SAFETY: register i of a chunk of VAES_REGISTERS × 32 bytes, in and out.
                unsafe {
                    let text = _mm256_loadu_si256(from.as_ptr().cast::<__m256i>().add(i));
                    let to = to.as_mut_ptr().cast::<__m256i>().add(i);
                    _mm256_storeu_si256(to, _mm256_xor_si256(text, stream));
                }
            }
            counter = counter.wrapping_add(2 * VAES_REGISTERS as u128);
        }
        // SAFETY: this CPU has AES-NI; the tails are as long as each other.
        unsafe { ctr_aesni(keys, counter, tail, out_tail) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::fixture::{Fixture, IV, KEY};

    /// The `ctr` crate's bytes for `text` from `iv`.
    fn theirs(text: &[u8], iv: [u8; 16]) -> Vec<u8> {
        let mut out = text.to_vec();
        ctr::Ctr128BE::<Aes256>::new(&KEY.into(), &iv.into()).apply_keystream(&mut out);
        out
    }

    /// This CPU's backends, fastest first, then the crates' software.
    fn backends() -> Vec<Keys> {
        let mut backends = vec![Keys::new(&KEY)];
        #[cfg(target_arch = "x86_64")]
        {
            // The slower backends this CPU also has, and the crate's software.
            let fastest = Keys::new(&KEY);
            if let Some((keys, AesBackend::Vaes256)) = fastest.expanded {
                backends.push(Keys {
                    key: KEY,
                    expanded: Some((keys, AesBackend::AesNi)),
                });
            }
            backends.push(Keys {
                key: KEY,
                expanded: None,
            });
        }
        eprintln!(
            "backends: {:?}",
            backends.iter().map(Keys::backend).collect::<Vec<_>>()
        );
        backends
    }

    #[test]
    fn every_backend_gives_the_cbc_crates_bytes_in_pieces_of_every_length() {
        let fixture = Fixture::shipped();
        let ciphertext = &fixture.ciphertext[..];
        let mut expected = vec![0; ciphertext.len()];
        let (from, _) = aes::Block::slice_as_chunks(ciphertext);
        let (to, _) = aes::Block::slice_as_chunks_mut(&mut expected);
        cbc::Decryptor::<Aes256>::new(&KEY.into(), &IV.into())
            .decrypt_blocks_b2b(from, to)
            .unwrap();
        // Pieces that end mid-round for both widths, one block, none, then the rest; each
        // piece's `previous` is the last block of the piece before.
        let ends = [256 * 3 + 160, 256 * 4 + 160 + 48, 256 * 4 + 160 + 64];
        for keys in backends() {
            let mut ours = vec![0; ciphertext.len()];
            let mut previous = IV;
            let mut at = 0;
            for end in ends.into_iter().chain([ends[2], ciphertext.len()]) {
                previous = keys.cbc_decrypt_b2b(previous, &ciphertext[at..end], &mut ours[at..]);
                at = end;
            }
            assert!(
                ours == expected,
                "{:?}: the plaintexts differ",
                keys.backend()
            );
            assert_eq!(&ours[..64], &fixture.json[..64]);
        }
    }

    #[test]
    fn every_backend_gives_the_ctr_crates_bytes_at_every_length() {
        let fixture = Fixture::shipped();
        let text = &fixture.json[..];
        let backends = backends();
        let wrapping = (u128::MAX - 3).to_be_bytes();
        let carrying = ((5u128 << 64) | u128::from(u64::MAX - 19)).to_be_bytes();
        // The whole payload; a wide round and a bit; a narrow round and a partial block; one
        // byte; none; a counter that wraps past u128::MAX within a round; and one whose low
        // 64 bits carry into the high ones in the second round (the vector steps add 64-bit
        // lanes, so that round takes the scalar path).
        for (len, iv) in [
            (text.len(), IV),
            (256 * 3 + 160, IV),
            (128 + 7, IV),
            (1, IV),
            (0, IV),
            (256 + 100, wrapping),
            (256 * 3 + 16 * 9, carrying),
        ] {
            let expected = theirs(&text[..len], iv);
            for keys in &backends {
                let mut ours = vec![0; len];
                let end = keys.apply_b2b(u128::from_be_bytes(iv), &text[..len], &mut ours);
                assert!(ours == expected, "{:?}: {len} bytes differ", keys.backend());
                let blocks = len.div_ceil(16) as u128;
                assert_eq!(end, u128::from_be_bytes(iv).wrapping_add(blocks));
            }
        }
    }
}
