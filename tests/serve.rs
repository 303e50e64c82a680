//! `serve`: the real binary on a free port, asked over real HTTP; bad requests get a 4xx with a
//! JSON error and the server keeps serving; stalled clients hold up no one, a full server asks
//! newcomers to retry, and a hundred clients drawing at once all get the library's answers.
mod common;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use image::ImageOutputFormat::Png;

/// The server, stopped when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    start_with(&[])
}

fn start_with(flags: &[&str]) -> Server {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mnist-cnn"))
        .args(["serve", "--port", "0"])
        .args(flags)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    // The rest of what it prints, read so that it never fills the pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    let addr = line.split("http://").nth(1).and_then(|s| s.split('/').next()).unwrap_or_else(|| panic!("no address in {line:?}")).to_string();
    Server { child, addr }
}

/// Sends raw bytes, returns (status, body).
fn raw(server: &Server, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.write_all(request).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

fn request(server: &Server, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut r = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: {}\r\n\r\n", server.addr, body.len()).into_bytes();
    r.extend_from_slice(body);
    raw(server, &r)
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[test]
fn the_page_and_a_prediction() {
    let server = start();
    let (status, page) = request(&server, "GET", "/", b"");
    assert_eq!(status, 200);
    assert!(page.contains("<canvas id=\"pad\"") && page.contains("/predict"), "the drawing page");

    let d = Drawing { size: (280, 280), place: (80.0, 30.0, 120.0, 220.0), pen: 18.0, ink: [0, 0, 0], paper: [255, 255, 255] };
    let (status, body) = request(&server, "POST", "/predict", &encode(&draw(7, &d), Png));
    assert_eq!(status, 200, "{body}");
    let answer = json(&body);
    assert_eq!(answer["digit"], 7, "{body}");
    let probs: Vec<f64> = answer["probabilities"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert_eq!(probs.len(), 10);
    assert!((probs.iter().sum::<f64>() - 1.0).abs() < 1e-4);
    let pixels = answer["pixels"].as_array().unwrap();
    assert_eq!(pixels.len(), 784, "the 28x28 image the model saw");
    // The same preparation as `predict`.
    let expected = mnist_cnn::predict::decode_digit(&encode(&draw(7, &d), Png), "x").unwrap();
    assert!(pixels.iter().zip(&expected).all(|(a, &b)| a.as_u64() == Some(b as u64)));
}

/// What the page needs to read digits on the device and to be installed: its script, the
/// network (the library's own export, byte for byte), the service worker, the manifest and its
/// icons; and `page` writes the same files as a folder.
#[test]
fn the_page_can_run_the_network_itself_and_be_installed() {
    let server = start();
    let get = |path: &str| {
        let mut s = connect(&server);
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut reader = BufReader::new(s);
        read_answer_bytes(&mut reader)
    };
    let model = lesson_model();
    let web = mnist_cnn::export::web_bytes(&model);
    assert_eq!(get("/model.web"), (200, web.clone()));
    assert!(web.starts_with(b"MNISTWEB"));
    let (status, js) = get("/nn.js");
    assert_eq!(status, 200);
    assert!(String::from_utf8(js).unwrap().contains("function prepare("));
    let (status, manifest) = get("/manifest.webmanifest");
    assert_eq!(status, 200);
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    for icon in manifest["icons"].as_array().unwrap() {
        let (status, png) = get(&format!("/{}", icon["src"].as_str().unwrap()));
        assert_eq!(status, 200);
        let img = image::load_from_memory(&png).unwrap();
        let side: u32 = icon["sizes"].as_str().unwrap().split('x').next().unwrap().parse().unwrap();
        assert_eq!((img.width(), img.height()), (side, side));
    }
    assert_eq!(get("/sw.js").0, 200);
    assert_eq!(get("/index.html"), get("/"));

    let dir = temp_dir("page");
    let out = cli(&["page", "--out", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(dir.join("model.web")).unwrap(), web);
    assert_eq!(std::fs::read(dir.join("index.html")).unwrap(), get("/").1);
    for name in ["nn.js", "sw.js", "manifest.webmanifest", "icon-192.png", "icon-512.png", "model.js"] {
        assert_eq!(std::fs::read(dir.join(name)).unwrap(), get(&format!("/{name}")).1, "{name}");
    }
}

#[test]
fn bad_requests_get_a_4xx_and_a_json_error_and_the_server_carries_on() {
    let server = start();
    let error = |(status, body): (u16, String)| (status, json(&body)["error"].as_str().unwrap_or_default().to_string());

    let (status, e) = error(request(&server, "POST", "/predict", b"these are not the pixels you are looking for"));
    assert_eq!(status, 400);
    assert!(e.contains("is not a PNG or JPEG image"), "{e}");
    let (status, e) = error(request(&server, "POST", "/predict", b""));
    assert_eq!((status, e.contains("is empty")), (400, true), "{e}");
    let blank = encode(&image::RgbImage::from_pixel(280, 280, image::Rgb([255, 255, 255])), Png);
    let (status, e) = error(request(&server, "POST", "/predict", &blank));
    assert_eq!((status, e.contains("there is no digit")), (422, true), "{e}");
    let (status, _) = error(request(&server, "GET", "/predict", b""));
    assert_eq!(status, 405);
    let (status, e) = error(request(&server, "GET", "/secrets", b""));
    assert_eq!((status, e.contains("there is no /secrets here")), (404, true), "{e}");
    // Too large: refused from its Content-Length, without reading 100 MB.
    let (status, e) = error(raw(&server, b"POST /predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 104857600\r\n\r\n"));
    assert_eq!((status, e.contains("larger than 4 MB")), (413, true), "{e}");
    // Too large without a Content-Length (chunked): refused after reading just past the cap.
    let mut chunked = b"POST /predict HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let chunk = vec![b'a'; 1 << 20];
    for _ in 0..5 {
        chunked.extend(format!("{:x}\r\n", chunk.len()).bytes());
        chunked.extend(&chunk);
        chunked.extend(b"\r\n");
    }
    chunked.extend(b"0\r\n\r\n");
    let (status, _) = error(raw(&server, &chunked));
    assert_eq!(status, 413);
    // Not HTTP at all.
    let (status, _) = raw(&server, b"\x16\x03\x01 hello?\r\n\r\n");
    assert!((400..500).contains(&status) || status == 0, "{status}");
    // Still serving.
    assert_eq!(request(&server, "GET", "/", b"").0, 200);
}

#[test]
fn a_port_in_use_or_a_missing_model_is_a_clear_error() {
    let server = start();
    let port = server.addr.rsplit(':').next().unwrap().to_string();
    let out = cli(&["serve", "--port", &port]);
    assert_clean_failure(&out, "cannot serve on 127.0.0.1:");
    assert!(String::from_utf8_lossy(&out.stderr).contains("pick another with --port"));
    let out = cli(&["serve", "--port", "0", "--model", "no/such/model.safetensors"]);
    assert_clean_failure(&out, "no/such/model.safetensors does not exist");
}

/// A connection that waits for its answer at most 5 s (a test fails rather than hangs).
fn connect(server: &Server) -> TcpStream {
    let s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Reads one answer from a kept-alive connection: (status, body).
fn read_answer(r: &mut BufReader<TcpStream>) -> (u16, String) {
    let (status, body) = read_answer_bytes(r);
    (status, String::from_utf8(body).unwrap())
}

fn read_answer_bytes(r: &mut BufReader<TcpStream>) -> (u16, Vec<u8>) {
    let mut head = String::new();
    let mut line = String::new();
    while line != "\r\n" {
        line.clear();
        if r.read_line(&mut line).unwrap_or_else(|e| panic!("no answer ({e}); so far: {head:?}")) == 0 {
            panic!("the connection closed; so far: {head:?}");
        }
        head.push_str(&line);
    }
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .expect("a Content-Length");
    let mut body = vec![0; length];
    r.read_exact(&mut body).unwrap();
    (status, body)
}

/// Requests that never finish arriving (a phone on a weak Wi-Fi): headers cut short, a body
/// cut short, nothing at all.
fn stall(server: &Server, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|i| {
            let mut s = connect(server);
            let part: &[u8] = match i % 3 {
                0 => b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Le",
                1 => b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n\x89PNG",
                _ => b"",
            };
            s.write_all(part).unwrap();
            s
        })
        .collect()
}

#[test]
fn stalled_clients_hold_up_no_one() {
    let server = start();
    let stalled = stall(&server, 200);
    let d = Drawing { size: (280, 280), place: (80.0, 30.0, 120.0, 220.0), pen: 18.0, ink: [0, 0, 0], paper: [255, 255, 255] };
    let png = encode(&draw(7, &d), Png);
    for _ in 0..10 {
        assert_eq!(request(&server, "GET", "/", b"").0, 200);
        let (status, body) = request(&server, "POST", "/predict", &png);
        assert_eq!((status, json(&body)["digit"].as_u64()), (200, Some(7)), "{body}");
    }
    drop(stalled);

    // A client that trickles its headers a byte at a time is cut off at the deadline (408).
    let server = start_with(&["--client-timeout", "1"]);
    let mut s = connect(&server);
    let started = Instant::now();
    let mut answer = Vec::new();
    s.write_all(b"GET / HTTP/1.1\r\n").unwrap();
    for b in b"Host: a-very-slow-phone".iter().cycle() {
        std::thread::sleep(Duration::from_millis(100));
        if s.write_all(&[*b]).is_err() || started.elapsed() > Duration::from_secs(5) {
            break;
        }
        s.set_nonblocking(true).unwrap();
        let got = s.read_to_end(&mut answer);
        s.set_nonblocking(false).unwrap();
        if got.is_ok() || !answer.is_empty() {
            break;
        }
    }
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("took too long to arrive"), "{answer}");
}

#[test]
fn a_full_server_asks_newcomers_to_retry_and_serves_them_once_there_is_room() {
    let server = start_with(&["--max-connections", "4"]);
    let stalled = stall(&server, 4);
    std::thread::sleep(Duration::from_millis(200)); // all four accepted
    let (status, body) = request(&server, "GET", "/", b"");
    assert_eq!(status, 503, "{body}");
    assert!(json(&body)["error"].as_str().unwrap().contains("busy"), "{body}");
    drop(stalled);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (status, _) = request(&server, "GET", "/", b"");
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "still refused after the stalled clients left: {status}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A class drawing at once: 100 clients, each keeping its connection and sending drawings one
/// after another, get every answer, each the library's own prediction for that drawing; and
/// the server's memory stays bounded.
#[test]
fn a_hundred_clients_drawing_at_once_all_get_the_librarys_answers() {
    let server = start();
    let model = lesson_model();
    let drawings: Vec<(Vec<u8>, Vec<f32>)> = (0..20)
        .map(|i| {
            let x = 40.0 + 8.0 * (i % 5) as f32;
            let d = Drawing { size: (280, 280), place: (x, 30.0, 110.0 + 4.0 * (i % 3) as f32, 220.0), pen: 14.0 + (i % 4) as f32 * 3.0, ink: [0, 0, 0], paper: [255, 255, 255] };
            let png = encode(&draw(i % 10, &d), Png);
            let p = mnist_cnn::predict::probabilities(&model, &mnist_cnn::predict::decode_digit(&png, "x").unwrap());
            (png, p.to_vec())
        })
        .collect();
    let drawings = &drawings;
    std::thread::scope(|scope| {
        let clients: Vec<_> = (0..100)
            .map(|c| {
                let server = &server;
                scope.spawn(move || {
                    let s = connect(server);
                    let mut reader = BufReader::new(s.try_clone().unwrap());
                    let mut writer = s;
                    for k in 0..5 {
                        let (png, want) = &drawings[(c * 7 + k) % drawings.len()];
                        let head = format!("POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: {}\r\n\r\n", png.len());
                        writer.write_all(head.as_bytes()).unwrap();
                        writer.write_all(png).unwrap();
                        let (status, body) = read_answer(&mut reader);
                        assert_eq!(status, 200, "client {c}, drawing {k}: {body}");
                        let got: Vec<f32> = json(&body)["probabilities"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
                        assert_eq!(&got, want, "client {c}, drawing {k}");
                    }
                })
            })
            .collect();
        for c in clients {
            c.join().unwrap();
        }
    });
    // Peak memory of the server process (Linux): the bodies held at once are capped at 64 MB,
    // and the images are decoded and read on one thread per core (113-125 MB in three runs here); a
    // server that kept what it read, started unbounded work, or let each connection's thread
    // keep its own buffers (250-340 MB for these 100 clients, before) would not pass this.
    let status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id())).unwrap();
    let peak_kb: u64 = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok()).unwrap();
    eprintln!("the server's peak memory (VmHWM): {} MB", peak_kb / 1024);
    assert!(peak_kb < 200 * 1024, "peak memory {peak_kb} kB");
}

/// The strokes of the synthetic digits these tests draw (`common::strokes`), written for
/// `scripts/browser-test.py` to draw with the mouse: one description of each digit for both.
#[test]
fn the_digits_strokes_are_written_for_the_browser_test() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/export-check");
    std::fs::create_dir_all(&dir).unwrap();
    let all: Vec<Vec<Vec<(f32, f32)>>> = (0..10).map(strokes).collect();
    mnist_cnn::write_atomic(&dir.join("strokes.json"), serde_json::to_string(&all).unwrap().as_bytes()).unwrap();
    let back: Vec<Vec<Vec<(f32, f32)>>> = serde_json::from_slice(&std::fs::read(dir.join("strokes.json")).unwrap()).unwrap();
    assert_eq!(back, all);
    assert!(all.iter().all(|d| !d.is_empty() && d.iter().all(|s| s.len() >= 2 && s.iter().all(|&(x, y)| (0.0..=1.0).contains(&x) && (0.0..=1.0).contains(&y)))));
}

#[test]
fn a_photo_is_read_as_a_photo_with_its_own_advice_when_blank() {
    let server = start();
    // A digit on ruled paper with the light falling off to the right: `?photo` reads it as
    // `photo::prepare` does.
    let d = Drawing { size: (480, 360), place: (190.0, 90.0, 100.0, 170.0), pen: 6.0, ink: [30, 40, 120], paper: [240, 240, 235] };
    let mut img = draw(7, &d);
    for (x, y, p) in img.enumerate_pixels_mut() {
        let ruled = y % 40 < 2;
        let light = 1.0 - 0.4 * x as f32 / 480.0;
        for c in 0..3 {
            let v = if ruled && p.0[c] > 200 { [160.0, 190.0, 235.0][c] } else { p.0[c] as f32 };
            p.0[c] = (v * light).round() as u8;
        }
    }
    let png = encode(&img, Png);
    let (status, body) = request(&server, "POST", "/predict?photo", &png);
    assert_eq!(status, 200, "{body}");
    let answer = json(&body);
    let expected = mnist_cnn::photo::decode_digit(&png, "x").unwrap();
    let pixels = answer["pixels"].as_array().unwrap();
    assert!(pixels.iter().zip(&expected).all(|(a, &b)| a.as_u64() == Some(b as u64)), "the photo path's pixels");
    assert_eq!(answer["digit"], 7, "{body}");
    // Blank paper: 422, with what to do about it.
    let blank = encode(&image::RgbImage::from_pixel(300, 200, image::Rgb([235, 235, 230])), Png);
    let (status, body) = request(&server, "POST", "/predict?photo", &blank);
    assert_eq!(status, 422, "{body}");
    assert!(json(&body)["error"].as_str().unwrap().contains("no digit was found in this photo"), "{body}");
}

#[test]
fn a_number_is_read_digit_by_digit_with_each_digits_box() {
    let server = start();
    // 7, 0 and 3 drawn side by side, dark on white.
    let mut img = image::RgbImage::from_pixel(420, 160, image::Rgb([255, 255, 255]));
    for (k, digit) in [7, 0, 3].into_iter().enumerate() {
        let d = Drawing { size: (120, 160), place: (20.0, 20.0, 80.0, 120.0), pen: 9.0, ink: [0, 0, 0], paper: [255, 255, 255] };
        let one = draw(digit, &d);
        image::imageops::overlay(&mut img, &one, 20 + 130 * k as i64, 0);
    }
    let png = encode(&img, Png);
    let (status, body) = request(&server, "POST", "/predict?number", &png);
    assert_eq!(status, 200, "{body}");
    let answer = json(&body);
    let want = mnist_cnn::number::read_number(&lesson_model(), &image::load_from_memory(&png).unwrap());
    assert_eq!(answer["number"], mnist_cnn::number::text(&want), "{body}");
    assert_eq!(answer["number"], "703", "{body}");
    let digits = answer["digits"].as_array().unwrap();
    for (got, want) in digits.iter().zip(&want) {
        let b = want.bounds;
        assert_eq!(got["box"], serde_json::json!([b.x, b.y, b.width, b.height]));
        assert!(got["pixels"].as_array().unwrap().iter().zip(&want.pixels).all(|(a, &p)| a.as_u64() == Some(p as u64)));
        // Each box lies within its own third of the picture.
        assert!(b.x >= 130 * digits.iter().position(|d| d == got).unwrap() as u32);
    }
    let blank = encode(&image::RgbImage::from_pixel(300, 100, image::Rgb([255, 255, 255])), Png);
    let (status, body) = request(&server, "POST", "/predict?number", &blank);
    assert_eq!(status, 422, "{body}");
    assert!(json(&body)["error"].as_str().unwrap().contains("no digits were found"), "{body}");
}
