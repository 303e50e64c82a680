//! `serve`: a web page where you draw a digit and watch the model read it as you draw, for
//! one computer or (with `--lan`) a whole classroom of phones.
//!
//! The page (`serve/page.html`, no scripts from elsewhere) fetches the network once
//! (`model.web`) and reads each drawing itself (`serve/nn.js`, the same preparation and layers
//! in plain JavaScript), so a room of phones asks the server for nothing but the page. Where the
//! network cannot be loaded (or with `?server`), and for photos and numbers, the page posts the
//! drawing as a PNG to `POST /predict`; the server prepares it exactly as `predict` prepares a
//! file (see [`crate::app::predict::prepare`]) and answers with the 28x28 image the model saw
//! and its ten probabilities. Every bad request gets a 4xx status and a JSON `{"error": ...}`.
//! The HTTP side, built so that one slow client never holds up the others, is in [`http`].
use std::io::Write;
use std::path::{Path, PathBuf};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, UdpSocket};

use serde_json::json;

use crate::error::{Error, Result};
use crate::model::Network;
use crate::app::{photo, predict};
use crate::{export, fsutil};

pub mod http;
pub mod request;

pub use http::Limits;

/// The page, compiled into the binary.
pub const PAGE: &str = include_str!("page.html");

/// The page's copy of the library's inference (preparation and network), in JavaScript.
pub const NN_JS: &str = include_str!("nn.js");

/// The service worker that lets the page work offline.
pub const SERVICE_WORKER: &str = include_str!("sw.js");

/// The web app manifest that lets a phone install the page on its home screen.
pub const MANIFEST: &str = include_str!("manifest.webmanifest");

/// The largest request body accepted: a 280x280 drawing is a few kilobytes; a photo of a digit
/// fits too.
pub const MAX_BODY: usize = 4 * 1024 * 1024;

/// The files of the page for one network: what `serve` answers `GET` with, and what
/// [`write_site`] writes as a folder that any web server (or none, once installed) can serve.
pub struct Site {
    /// `(path, content type, bytes)`; `""` is the page itself.
    pub files: Vec<(&'static str, &'static str, Vec<u8>)>,
}

impl Site {
    pub fn of<N: Network>(model: &N) -> Site {
        let web = export::web_bytes(model);
        let files = vec![
            ("", "text/html; charset=utf-8", PAGE.as_bytes().to_vec()),
            ("nn.js", "text/javascript; charset=utf-8", NN_JS.as_bytes().to_vec()),
            ("sw.js", "text/javascript; charset=utf-8", SERVICE_WORKER.as_bytes().to_vec()),
            ("manifest.webmanifest", "application/manifest+json", MANIFEST.as_bytes().to_vec()),
            ("model.web", "application/octet-stream", web.clone()),
            // The same network as a script, for a page opened from a file (a USB stick), where
            // browsers refuse to fetch the file beside it but still run a script.
            ("model.js", "text/javascript; charset=utf-8", format!("window.MNIST_CNN_MODEL = \"{}\";\n", crate::encode::base64(&web)).into_bytes()),
            ("icon-192.png", "image/png", icon(192)),
            ("icon-512.png", "image/png", icon(512)),
        ];
        Site { files }
    }

    fn get(&self, path: &str) -> Option<Reply> {
        let name = path.strip_prefix('/')?;
        let name = if name == "index.html" { "" } else { name };
        self.files.iter().find(|(n, ..)| *n == name).map(|(_, content_type, body)| Reply { status: 200, content_type, body: body.clone() })
    }
}

/// Writes the page for `model` as a folder (`index.html`, its script, service worker,
/// manifest, icons and network): served from any web server, it reads digits on the device.
pub fn write_site<N: Network>(model: &N, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (name, _, bytes) in Site::of(model).files {
        let path = dir.join(if name.is_empty() { "index.html" } else { name });
        fsutil::write_atomic(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}

/// The app's icon: a white 7 on black, `side` pixels square, as PNG.
fn icon(side: u32) -> Vec<u8> {
    let stroke = [(0.27f32, 0.25f32), (0.73, 0.25), (0.45, 0.8)];
    let pen = 0.07;
    let pixels: Vec<u8> = (0..side * side)
        .map(|i| {
            let (x, y) = (((i % side) as f32 + 0.5) / side as f32, ((i / side) as f32 + 0.5) / side as f32);
            let d = stroke
                .windows(2)
                .map(|s| {
                    let ((ax, ay), (bx, by)) = (s[0], s[1]);
                    let t = (((x - ax) * (bx - ax) + (y - ay) * (by - ay)) / ((bx - ax).powi(2) + (by - ay).powi(2))).clamp(0.0, 1.0);
                    ((x - ax - t * (bx - ax)).powi(2) + (y - ay - t * (by - ay)).powi(2)).sqrt()
                })
                .fold(f32::INFINITY, f32::min);
            // A soft edge a pixel wide.
            (((pen - d) * side as f32 + 0.5).clamp(0.0, 1.0) * 255.0).round() as u8
        })
        .collect();
    crate::encode::png(&pixels, side, side, 1)
}

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

    pub(crate) fn error(status: u16, message: impl Into<String>) -> Reply {
        Reply::json(status, json!({ "error": message.into() }))
    }
}

/// The answer to one request. `body` is `None` when it was larger than [`MAX_BODY`].
pub fn respond<N: Network>(model: &N, site: &Site, method: &str, path: &str, body: Option<&[u8]>) -> Reply {
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    if let ("GET", Some(reply)) = (method, site.get(path)) {
        return reply;
    }
    match (method, path) {
        ("POST", "/predict") => match body {
            None => Reply::error(413, format!("the image is larger than {} MB", MAX_BODY / (1024 * 1024))),
            Some(bytes) if query.split('&').any(|q| q == "number") => number_json(model, bytes),
            Some(bytes) => predict_json(model, bytes, query.split('&').any(|q| q == "photo")),
        },
        (_, "/" | "/index.html" | "/predict") => Reply::error(405, format!("{method} is not allowed here: GET / for the page, POST /predict with an image")),
        _ => Reply::error(404, format!("there is no {path} here: GET / for the page, POST /predict with an image")),
    }
}

/// The answer to `POST /predict` (`?photo`: a photo of paper, read by [`photo`]).
fn predict_json<N: Network>(model: &N, bytes: &[u8], is_photo: bool) -> Reply {
    let prepared = if is_photo { photo::decode_digit(bytes, "the photo") } else { predict::decode_digit(bytes, "the image") };
    match prepared {
        Ok(pixels) => {
            let p = predict::probabilities(model, &pixels);
            let digit = predict::top(&p, 1)[0].0;
            Reply::json(200, json!({ "digit": digit, "probabilities": p, "pixels": pixels }))
        }
        Err(e @ (Error::NoDigit { .. } | Error::NoDigitInPhoto { .. })) => Reply::error(422, e.to_string()),
        Err(e) => Reply::error(400, e.to_string()),
    }
}

/// The answer to `POST /predict?number`: the digits of a number written side by side, each with
/// its box in the image's pixels ([`crate::number`]).
fn number_json<N: Network>(model: &N, bytes: &[u8]) -> Reply {
    match predict::decode_image(bytes, "the image") {
        Ok(img) => {
            let digits = crate::number::read_number(model, &img);
            if digits.is_empty() {
                return Reply::error(422, "no digits were found in the image: write them darker, side by side");
            }
            let each: Vec<_> = digits
                .iter()
                .map(|d| {
                    let b = d.bounds;
                    json!({ "digit": d.value(), "box": [b.x, b.y, b.width, b.height], "probabilities": d.probabilities, "pixels": d.pixels })
                })
                .collect();
            Reply::json(200, json!({ "number": crate::number::text(&digits), "digits": each }))
        }
        Err(e) => Reply::error(400, e.to_string()),
    }
}

/// Where and how to serve.
#[derive(Debug, Clone)]
pub struct Options {
    /// The address to listen on (`127.0.0.1`: this computer only).
    pub host: String,
    /// The port (0 picks a free one).
    pub port: u16,
    /// Listen on every network of this computer, and print the address (and a QR code) that
    /// phones on the same network open.
    pub lan: bool,
    pub limits: Limits,
}

impl Default for Options {
    fn default() -> Self {
        Options { host: "127.0.0.1".into(), port: 8080, lan: false, limits: Limits::default() }
    }
}

/// Serves the page until the process is stopped. Prints the address to open first.
pub fn serve<N: Network + Sync>(model: &N, options: &Options) -> Result<()> {
    let host = if options.lan { "0.0.0.0" } else { options.host.as_str() };
    let addr = format!("{host}:{}", options.port);
    let cannot = |e: std::io::Error| Error::CannotServe {
        addr: addr.clone(),
        problem: e.to_string(),
        fix: "If the port is in use, pick another with --port.".into(),
    };
    let listener = TcpListener::bind(&addr).map_err(cannot)?;
    let bound = listener.local_addr().map_err(cannot)?;
    let local = if bound.ip().is_unspecified() { SocketAddr::new(Ipv4Addr::LOCALHOST.into(), bound.port()) } else { bound };
    // What is printed is for the person at the terminal: if nobody reads it (a closed pipe),
    // the server serves on.
    let mut out = std::io::stdout();
    let _ = writeln!(out, "Serving the draw-a-digit page on http://{local}/ (Ctrl-C to stop)");
    if options.lan {
        match lan_address() {
            Some(ip) => {
                let url = format!("http://{}/", SocketAddr::new(ip, bound.port()));
                let _ = writeln!(out, "Phones and computers on the same network open {url}, or scan:\n{}", qr(&url));
            }
            None => drop(writeln!(
                out,
                "No network found to share it on: connect this computer to the classroom's Wi-Fi, or find its address \
                 (`ip addr`, `ipconfig`) and open http://ADDRESS:{}/ on the phones.",
                bound.port()
            )),
        }
    } else if bound.ip().is_loopback() {
        let _ = writeln!(out, "Only this computer can open it: `serve --lan` lets phones on the same network in.");
    }
    let limits = &options.limits;
    let _ = writeln!(
        out,
        "Up to {} connections at once (more are asked to retry); a request must arrive within {} s.",
        limits.max_connections,
        limits.client_timeout.as_secs()
    );
    serve_on(listener, model, limits).map_err(|e| Error::CannotServe {
        addr: addr.clone(),
        problem: format!("serving stopped ({e})"),
        fix: "Start it again.".into(),
    })
}

/// Serves the page on `listener` (bound already) until the process ends, printing nothing.
pub fn serve_on<N: Network + Sync>(listener: TcpListener, model: &N, limits: &Limits) -> std::io::Result<()> {
    // Images are decoded and read a few at a time, on as many threads as there are cores: more
    // at once would not finish sooner, and each takes memory (a photo up to 8192x8192 pixels, a
    // quarter of a gigabyte decoded), so memory stays bounded however many clients send at once.
    // The work runs on those few threads, not on the connections' own: what a thread keeps for
    // its next call (the allocator's free pages, the matrix kernels' packing buffers) is then
    // kept a few times, not once per client. Connections still wait for requests on their own
    // threads.
    let workers = rayon::ThreadPoolBuilder::new()
        .num_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .thread_name(|i| format!("predict-{i}"))
        .build()
        .map_err(std::io::Error::other)?;
    let site = Site::of(model);
    let handler = |method: &str, path: &str, body: Option<&[u8]>| {
        if method == "POST" {
            workers.install(|| respond(model, &site, method, path, body))
        } else {
            respond(model, &site, method, path, body)
        }
    };
    http::run(listener, limits, &handler)
}

/// This computer's address on its local network: the one its traffic to the outside would
/// leave from (no packet is sent).
fn lan_address() -> Option<IpAddr> {
    let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
    ["192.168.0.1:9", "10.0.0.1:9", "172.16.0.1:9", "8.8.8.8:9"].iter().find_map(|target| {
        socket.connect(target).ok()?;
        let ip = socket.local_addr().ok()?.ip();
        (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip)
    })
}

/// A QR code of `text` for a terminal: two rows of modules per line of text.
fn qr(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .quiet_zone(true)
            .build(),
        Err(e) => format!("(no QR code: {e})"),
    }
}

