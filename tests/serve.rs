//! `serve`: the real binary on a free port, asked over real HTTP; bad requests get a 4xx with a
//! JSON error and the server keeps serving.
mod common;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

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
    let mut child = Command::new(env!("CARGO_BIN_EXE_mnist-cnn"))
        .args(["serve", "--port", "0"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
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
    assert_clean_failure(&out, "cannot listen on 127.0.0.1:");
    assert!(String::from_utf8_lossy(&out.stderr).contains("pick another with --port"));
    let out = cli(&["serve", "--port", "0", "--model", "no/such/model.safetensors"]);
    assert_clean_failure(&out, "no/such/model.safetensors does not exist");
}
