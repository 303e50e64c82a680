//! How `serve` holds up under a class: many clients, each on its own kept-alive connection,
//! sending drawings one after another as the page does, for a while; with some stalled
//! connections open beside them (phones on a weak Wi-Fi). A benchmark, not a test:
//! `cargo bench --bench serve_load -- [--clients N] [--seconds S] [--stalled N]`
//! (default 100 clients, 10 s, 50 stalled). Prints requests/s and latency percentiles as JSON.
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use mnist_cnn::serve::{self, Limits};
use mnist_cnn::{data, model};

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut clients, mut seconds, mut stalled) = (100usize, 10u64, 50usize);
    while let Some(a) = args.next() {
        let mut value = || args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("{a} takes a number"));
        match a.as_str() {
            "--clients" => clients = value(),
            "--seconds" => seconds = value() as u64,
            "--stalled" => stalled = value(),
            _ => {} // cargo bench passes --bench
        }
    }
    let model = model::load(std::path::Path::new("models/lesson.safetensors")).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    let mnist = data::load(&data::default_dir()).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    // Test digits as the page would send them: 280x280 PNGs, dark ink on white.
    let drawings: Vec<Vec<u8>> = (0..50)
        .map(|i| {
            let pixels = mnist.test.image(i);
            let img = image::GrayImage::from_fn(28, 28, |x, y| image::Luma([255 - pixels[(y * 28 + x) as usize]]));
            let big = image::imageops::resize(&img, 280, 280, image::imageops::FilterType::Triangle);
            let mut png = Vec::new();
            big.write_to(&mut std::io::Cursor::new(&mut png), image::ImageOutputFormat::Png).unwrap();
            png
        })
        .collect();

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let limits = Limits::default();
    std::thread::spawn(move || serve::serve_on(listener, &model, &limits));
    let _stalled: Vec<TcpStream> = (0..stalled)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            s.write_all(b"POST /predict HTTP/1.1\r\nContent-Length: 5000\r\n\r\n\x89PNG").unwrap();
            s
        })
        .collect();

    let until = Instant::now() + Duration::from_secs(seconds);
    let drawings = &drawings;
    let mut latencies: Vec<Duration> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..clients)
            .map(|c| {
                scope.spawn(move || {
                    let s = TcpStream::connect(addr).unwrap();
                    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                    let (mut reader, mut writer) = (BufReader::new(s.try_clone().unwrap()), s);
                    let mut times = Vec::new();
                    let mut k = c;
                    while Instant::now() < until {
                        let png = &drawings[k % drawings.len()];
                        k += 1;
                        let t = Instant::now();
                        write!(writer, "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", png.len()).unwrap();
                        writer.write_all(png).unwrap();
                        assert_eq!(answer(&mut reader), 200);
                        times.push(t.elapsed());
                    }
                    times
                })
            })
            .collect();
        workers.into_iter().flat_map(|w| w.join().unwrap()).collect()
    });
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0;
    println!(
        r#"{{"what":"serve","clients":{clients},"stalled":{stalled},"seconds":{seconds},"requests":{},"requests_per_s":{:.0},"p50_ms":{:.1},"p90_ms":{:.1},"p99_ms":{:.1},"max_ms":{:.1},"threads":"{}"}}"#,
        latencies.len(),
        latencies.len() as f64 / seconds as f64,
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0),
        std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into())
    );
}

/// Reads one answer and returns its status.
fn answer(r: &mut BufReader<TcpStream>) -> u16 {
    let (mut status, mut length, mut line) = (0, 0usize, String::new());
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        if status == 0 {
            status = line.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).unwrap();
    status
}
