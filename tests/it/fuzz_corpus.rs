//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) through the same entry points the
//! cargo-fuzz targets call, plus a few thousand deterministic mutations of each seed, so
//! every `cargo test` checks that none of them panics. Longer fuzzing: see the README.

use std::path::Path;

type Target = fn(&[u8]);

const TARGETS: &[(&str, Target)] = &[
    ("webhook_body", handoff::fuzzing::webhook_body),
    ("signatures", handoff::fuzzing::signatures),
    ("bot_request", handoff::fuzzing::bot_request),
];

/// xorshift: reproducible mutations without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Byte flips, insertions of interesting tokens, truncations and splices.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    const TOKENS: &[&[u8]] = &[
        b"-9223372036854775808",
        b"9223372036854775807",
        b"1e309",
        b"null",
        b"[]",
        b"{}",
        b"\"\"",
        b"\\u0000",
        b"%",
        b"%zz",
        b"\xff\xfe",
        b"\n",
        b"\"A-\"",
        b"-1",
        b"0.5",
    ];
    let mut out = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let at = rng.below(out.len() + 1);
        match rng.below(4) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len());
                out[i] ^= 1 << rng.below(8);
            }
            1 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                out.splice(at..at, token.iter().copied());
            }
            2 => out.truncate(at),
            _ => {
                let from = rng.below(seed.len());
                let len = rng.below(seed.len() - from.min(seed.len()) + 1);
                out.splice(at..at, seed[from..from + len].iter().copied());
            }
        }
    }
    out
}

#[test]
fn the_fuzz_corpus_and_its_mutations_never_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    for (name, target) in TARGETS {
        let dir = root.join(name);
        let mut seeds = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            let seed = std::fs::read(&path).unwrap();
            target(&seed);
            let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed.len() as u64);
            for _ in 0..500 {
                target(&mutate(&seed, &mut rng));
            }
            seeds += 1;
        }
        assert!(seeds >= 5, "{name}: the corpus has only {seeds} seeds");
    }
}
