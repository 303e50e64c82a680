//! `serve`: a local web page where you draw a digit and watch the model read it as you draw.
//!
//! The page (`serve/page.html`, one file, no scripts from elsewhere) sends the drawing as a PNG
//! to `POST /predict`; the server prepares it exactly as `predict` prepares a file (see
//! [`crate::predict::prepare`]) and answers with the 28x28 image the model saw and its ten
//! probabilities. Every bad request gets a 4xx status and a JSON `{"error": ...}`.
use std::io::Read;

use serde_json::json;

use crate::error::{Error, Result};
use crate::model::Network;
use crate::predict;

/// The page, compiled into the binary.
pub const PAGE: &str = include_str!("serve/page.html");

/// The largest request body accepted: a 280x280 drawing is a few kilobytes; a photo of a digit
/// fits too.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// An HTTP answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    fn json(status: u16, value: serde_json::Value) -> Reply {
        Reply { status, content_type: "application/json", body: value.to_string().into_bytes() }
    }

    fn error(status: u16, message: impl Into<String>) -> Reply {
        Reply::json(status, json!({ "error": message.into() }))
    }
}

/// The answer to one request. `body` is `None` when it was larger than [`MAX_BODY`].
pub fn respond<N: Network>(model: &N, method: &str, path: &str, body: Option<&[u8]>) -> Reply {
    let path = path.split('?').next().unwrap_or("");
    match (method, path) {
        ("GET", "/") => Reply { status: 200, content_type: "text/html; charset=utf-8", body: PAGE.as_bytes().to_vec() },
        ("POST", "/predict") => match body {
            None => Reply::error(413, format!("the image is larger than {} MB", MAX_BODY / (1024 * 1024))),
            Some(bytes) => predict_json(model, bytes),
        },
        (_, "/" | "/predict") => Reply::error(405, format!("{method} is not allowed here: GET / for the page, POST /predict with an image")),
        _ => Reply::error(404, format!("there is no {path} here: GET / for the page, POST /predict with an image")),
    }
}

fn predict_json<N: Network>(model: &N, bytes: &[u8]) -> Reply {
    match predict::decode_digit(bytes, "the image") {
        Ok(pixels) => {
            let p = predict::probabilities(model, &pixels);
            let digit = predict::top(&p, 1)[0].0;
            Reply::json(200, json!({ "digit": digit, "probabilities": p, "pixels": pixels }))
        }
        Err(e @ Error::NoDigit { .. }) => Reply::error(422, e.to_string()),
        Err(e) => Reply::error(400, e.to_string()),
    }
}

/// Serves the page on `addr` (for example `127.0.0.1:8080`; port 0 picks a free one) until the
/// process is stopped. Prints the address to open.
pub fn serve<N: Network>(model: &N, addr: &str) -> Result<()> {
    let server = tiny_http::Server::http(addr).map_err(|e| {
        Error::Usage(format!("cannot listen on {addr}: {e}. If the port is in use, pick another with --port."))
    })?;
    println!("Serving the draw-a-digit page on http://{}/ (Ctrl-C to stop)", server.server_addr());
    for mut request in server.incoming_requests() {
        let body = read_body(&mut request);
        let reply = respond(model, request.method().as_str(), request.url(), body.as_deref());
        let header = tiny_http::Header::from_bytes("Content-Type", reply.content_type).expect("a valid header");
        let response = tiny_http::Response::from_data(reply.body).with_status_code(reply.status).with_header(header);
        if let Err(e) = request.respond(response) {
            eprintln!("could not answer a request: {e}");
        }
    }
    Ok(())
}

/// The request's body, or `None` if it is (or claims to be) larger than [`MAX_BODY`].
fn read_body(request: &mut tiny_http::Request) -> Option<Vec<u8>> {
    if request.body_length().is_some_and(|n| n > MAX_BODY) {
        return None;
    }
    let mut body = Vec::new();
    match request.as_reader().take(MAX_BODY as u64 + 1).read_to_end(&mut body) {
        Ok(_) if body.len() <= MAX_BODY => Some(body),
        Ok(_) => {
            // A body without a length (chunked) that turned out too large: read (and drop) up to
            // as much again of what the client is still sending, so that it can finish and read
            // the 413 (closing on unread data resets the connection, and a client still writing
            // sees a broken pipe). A declared length over the cap is refused above, and tiny_http
            // itself reads the rest of such a body.
            let _ = std::io::copy(&mut request.as_reader().take(MAX_BODY as u64), &mut std::io::sink());
            None
        }
        Err(_) => Some(Vec::new()), // a broken upload: answered as an empty (bad) image
    }
}
