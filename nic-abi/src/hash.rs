//! The flow table's two hash functions, shared bit for bit by `nic-model`, the RTL and the
//! driver.
//!
//! A key's two candidate buckets come from two independent CRCs over the packed key (its
//! [`KEY_WORDS`](crate::key::KEY_WORDS) words, each little-endian, word 0 first):
//! CRC-32C (Castagnoli, reflected polynomial `0x82F63B78`) and CRC-32 (IEEE 802.3, reflected
//! polynomial `0xEDB88320`), both with initial value and final XOR `0xFFFFFFFF`. CRCs are the
//! usual hardware choice (an XOR tree per output bit, one cycle per stage), and two different
//! polynomials keep the two bucket choices independent: two CRCs with one polynomial and
//! different seeds differ by a constant, which would pair buckets for good.
//! The bucket index is the hash's low bits.

use crate::key::{KeyWords, KEY_WORDS};

/// Reflected CRC-32C polynomial (hash 0).
pub const CRC32C_POLY_REFLECTED: u32 = 0x82f6_3b78;
/// Reflected CRC-32 (IEEE) polynomial (hash 1).
pub const CRC32_POLY_REFLECTED: u32 = 0xedb8_8320;

/// The key's bytes as the hash functions see them: each word little-endian, word 0 first.
#[inline]
fn key_bytes(words: &KeyWords) -> [u8; KEY_WORDS * 4] {
    let mut bytes = [0u8; KEY_WORDS * 4];
    for (chunk, w) in bytes.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&w.to_le_bytes());
    }
    bytes
}

/// The two hashes of a packed key: `[crc32c, crc32]`.
#[inline]
pub fn key_hashes(words: &KeyWords) -> [u32; 2] {
    let bytes = key_bytes(words);
    [crc32c::crc32c(&bytes), crc32fast::hash(&bytes)]
}

/// Bit-serial reference of a reflected CRC (init and final XOR all ones), the form the RTL
/// computes; used to check the fast library versions.
pub fn crc_reference(poly_reflected: u32, bytes: &[u8]) -> u32 {
    let mut crc = u32::MAX;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let lsb = crc & 1;
            crc >>= 1;
            if lsb != 0 {
                crc ^= poly_reflected;
            }
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values_of_both_crcs() {
        // The standard check inputs: CRC of ASCII "123456789".
        assert_eq!(
            crc_reference(CRC32C_POLY_REFLECTED, b"123456789"),
            0xe306_9283
        );
        assert_eq!(
            crc_reference(CRC32_POLY_REFLECTED, b"123456789"),
            0xcbf4_3926
        );
    }

    #[test]
    fn fast_hashes_equal_the_bit_serial_reference() {
        let mut words = [0u32; KEY_WORDS];
        for i in 0..200u32 {
            for (j, w) in (0u32..).zip(words.iter_mut()) {
                *w = i.wrapping_mul(0x9e37_79b9).rotate_left(j) ^ j;
            }
            let bytes = key_bytes(&words);
            assert_eq!(
                key_hashes(&words),
                [
                    crc_reference(CRC32C_POLY_REFLECTED, &bytes),
                    crc_reference(CRC32_POLY_REFLECTED, &bytes)
                ]
            );
        }
    }
}
