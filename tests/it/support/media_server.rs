//! Serves the bot's media for the tests: an image, a PDF, a slow image, a file over the
//! size cap, an HTML page (the wrong type for an image), an SVG with a script and a 404.
//! It counts the requests it gets, so a test can show a link was never fetched.

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

pub struct MediaServer {
    pub url: String,
    pub photo: Vec<u8>,
    pub pdf: Vec<u8>,
    /// The port, for links under made-up host names (see `Config::test_hosts`).
    pub port: u16,
    hits: Arc<AtomicUsize>,
    handle: ServerHandle,
}

/// Bytes that are different every run, so a test cannot pass on stale data.
fn random_bytes(n: usize) -> Vec<u8> {
    (0..n).map(|_| rand::random::<u8>()).collect()
}

impl MediaServer {
    pub async fn start() -> MediaServer {
        let photo = random_bytes(48 * 1024);
        let pdf = random_bytes(10 * 1024);
        let big = web::Bytes::from(vec![7u8; 21 * 1024 * 1024]);
        let (p, d) = (
            web::Bytes::from(photo.clone()),
            web::Bytes::from(pdf.clone()),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("http://127.0.0.1:{port}");
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        let server =
            HttpServer::new(move || {
                let (p, d, big) = (p.clone(), d.clone(), big.clone());
                let slow = p.clone();
                let counter = counter.clone();
                App::new()
                .wrap_fn(move |req, srv| {
                    counter.fetch_add(1, Ordering::SeqCst);
                    actix_web::dev::Service::call(srv, req)
                })
                .route("/photo.png", web::get().to(move || {
                    let p = p.clone();
                    async move { HttpResponse::Ok().content_type("image/png").body(p) }
                }))
                .route("/slow.png", web::get().to(move || {
                    let p = slow.clone();
                    async move {
                        tokio::time::sleep(Duration::from_millis(1500)).await;
                        HttpResponse::Ok().content_type("image/png").body(p)
                    }
                }))
                .route("/invoice.pdf", web::get().to(move || {
                    let d = d.clone();
                    async move { HttpResponse::Ok().content_type("application/pdf").body(d) }
                }))
                .route("/big.pdf", web::get().to(move || {
                    let big = big.clone();
                    async move { HttpResponse::Ok().content_type("application/pdf").body(big) }
                }))
                .route("/page.html", web::get().to(|| async {
                    HttpResponse::Ok().content_type("text/html").body("<html></html>")
                }))
                .route("/drawing.svg", web::get().to(|| async {
                    HttpResponse::Ok().content_type("image/svg+xml").body(
                        r#"<svg xmlns="http://www.w3.org/2000/svg"><script>alert(document.cookie)</script></svg>"#,
                    )
                }))
            })
            .workers(1)
            .disable_signals()
            .listen(listener)
            .unwrap()
            .run();
        let handle = server.handle();
        tokio::spawn(server);
        MediaServer {
            url,
            photo,
            pdf,
            port,
            hits,
            handle,
        }
    }

    /// Requests served so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for MediaServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}
