//! Mutated copies of a valid message, for the codecs' never-panic tests.

/// Calls `check` with `rounds` copies of `base`, each with up to five bytes
/// overwritten and every fourth one also cut short, drawn from an xorshift
/// generator started at `seed` (so a failing round repeats).
pub(crate) fn for_each_mutation(base: &[u8], seed: u32, rounds: u32, mut check: impl FnMut(&[u8])) {
    let mut seed = seed;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        seed
    };
    for round in 0..rounds {
        let mut bytes = base.to_vec();
        for _ in 0..(next() % 6) {
            let at = next() as usize % bytes.len();
            bytes[at] = next() as u8;
        }
        if round % 4 == 0 {
            bytes.truncate(next() as usize % bytes.len());
        }
        check(&bytes);
    }
}
