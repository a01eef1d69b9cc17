//! Rewriting the `<img src>` of an agent's rich text into handoff links: time and bytes
//! examined for 1,000 / 2,000 / 4,000 images (both should double, not quadruple).
//!
//! Run: `cargo bench --bench inline_rewrite`.

use handoff::hubspot::files::{FileLinks, inline_scan_cost, rewrite_inline_images};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let store = handoff::store::Store::open(dir.path(), 8).unwrap();
    let config = handoff::config::Config {
        public_url: Some("https://handoff.example.com".into()),
        ..Default::default()
    };
    let settings =
        Arc::new(handoff::settings::Settings::load(Arc::new(config), Arc::new(store)).unwrap());
    let links = FileLinks::new(vec![7; 32], settings);
    for n in [1_000, 2_000, 4_000] {
        let html: String = (0..n)
            .map(|i| {
                format!("<p>line {i:05}</p><img alt=\"x\" src=\"https://cdn.example/{i:05}.png\">")
            })
            .collect();
        let rounds = 20;
        let start = Instant::now();
        let mut out = 0;
        for _ in 0..rounds {
            out += rewrite_inline_images(&html, &links).len();
        }
        let per = start.elapsed() / rounds;
        println!(
            "{n:>5} images ({:>7} bytes): {:>9.3} ms per rewrite, {:>9} bytes examined (output {} bytes)",
            html.len(),
            per.as_secs_f64() * 1000.0,
            inline_scan_cost(&html),
            out / rounds as usize
        );
    }
}
