//! Serves the bot's media for the tests: an image, a PDF, a slow image, a file over the
//! size cap, an HTML page (the wrong type for an image) and a 404.

use actix_web::dev::ServerHandle;
use actix_web::{App, HttpResponse, HttpServer, web};
use std::net::TcpListener;
use std::time::Duration;

pub struct MediaServer {
    pub url: String,
    pub photo: Vec<u8>,
    pub pdf: Vec<u8>,
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
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server =
            HttpServer::new(move || {
                let (p, d, big) = (p.clone(), d.clone(), big.clone());
                let slow = p.clone();
                App::new()
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
            handle,
        }
    }
}

impl Drop for MediaServer {
    fn drop(&mut self) {
        let handle = self.handle.clone();
        tokio::spawn(async move { handle.stop(false).await });
    }
}
