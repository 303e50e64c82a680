//! Reading one HTTP/1.1 request from a connection, within limits: the request line and
//! headers bounded, bodies (`Content-Length` or chunked) bounded one by one and all together
//! ([`Budget`]); anything it cannot read is a [`ReadError`] with the status to answer.
use std::io::{self, BufRead, Read};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::http::Limits;
/// The largest request line and headers together.
const MAX_HEAD: usize = 16 * 1024;

/// A request as the handler sees it.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// The path and query, as sent (`/predict?x=1`).
    pub target: String,
    /// `None` when it was larger than [`Limits::max_body`].
    pub body: Option<Vec<u8>>,
    /// The client asked to close after this answer (or spoke HTTP/1.0 without keep-alive).
    pub close: bool,
}

/// Why no request could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The connection ended (or stayed idle) before a request began: nothing to answer.
    Closed,
    /// Not a request this server can read: answered with this status and message.
    Bad(u16, String),
    /// The request did not arrive within the client timeout.
    Timeout,
    /// The connection failed mid-request.
    Io(io::Error),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => ReadError::Timeout,
            _ => ReadError::Io(e),
        }
    }
}

/// Body bytes held by all connections together, against [`Limits::body_budget`].
pub struct Budget {
    used: AtomicUsize,
    cap: usize,
}

impl Budget {
    pub fn new(cap: usize) -> Self {
        Budget { used: AtomicUsize::new(0), cap }
    }

    /// Takes `n` more bytes for `held` (given back when `held` is dropped), if the budget has them.
    fn take<'a>(&'a self, held: &mut Held<'a>, n: usize) -> bool {
        let ok = self.used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| u.checked_add(n).filter(|&t| t <= self.cap)).is_ok();
        if ok {
            held.budget = Some(self);
            held.bytes += n;
        }
        ok
    }
}

/// Bytes taken from a [`Budget`], given back on drop.
#[derive(Default)]
struct Held<'a> {
    budget: Option<&'a Budget>,
    bytes: usize,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Some(b) = self.budget {
            b.used.fetch_sub(self.bytes, Ordering::AcqRel);
        }
    }
}

/// Reads one request from `r`. `expect_continue` is called when the client waits for a
/// `100 Continue` before sending its body.
pub fn read_request<R: BufRead>(r: &mut R, limits: &Limits, budget: &Budget, mut expect_continue: impl FnMut() -> io::Result<()>) -> Result<Request, ReadError> {
    let mut head_left = MAX_HEAD;
    let mut line = Vec::new();
    // Blank lines before a request are allowed (RFC 9112, 2.2).
    loop {
        line.clear();
        let n = read_line(r, &mut line, &mut head_left)?;
        if n == 0 {
            return Err(ReadError::Closed);
        }
        if !trim_eol(&line).is_empty() {
            break;
        }
    }
    let request_line = String::from_utf8(trim_eol(&line).to_vec()).map_err(|_| bad(400, "the request line is not text"))?;
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad(400, "the request line is not `METHOD /path HTTP/1.1`"));
    };
    if method.is_empty() || !method.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(bad(400, "the request line is not `METHOD /path HTTP/1.1`"));
    }
    let http10 = match version {
        "HTTP/1.1" => false,
        "HTTP/1.0" => true,
        _ => return Err(bad(400, format!("{version:.20} is not HTTP/1.0 or HTTP/1.1"))),
    };
    let target = match target.strip_prefix("http://").or_else(|| target.strip_prefix("https://")) {
        // The absolute form (sent to proxies): keep the path.
        Some(rest) => rest.find('/').map_or("/".to_string(), |i| rest[i..].to_string()),
        None if target.starts_with('/') => target.to_string(),
        None => return Err(bad(400, "the request's path must start with /")),
    };

    let (mut length, mut chunked, mut close, mut keep_alive, mut expect) = (None::<usize>, false, http10, false, false);
    loop {
        line.clear();
        if read_line(r, &mut line, &mut head_left)? == 0 {
            return Err(bad(400, "the connection ended inside the headers"));
        }
        let header = trim_eol(&line);
        if header.is_empty() {
            break;
        }
        let header = std::str::from_utf8(header).map_err(|_| bad(400, "a header is not text"))?;
        let Some((name, value)) = header.split_once(':') else {
            return Err(bad(400, "a header line has no `:`"));
        };
        let (name, value) = (name.to_ascii_lowercase(), value.trim());
        match name.as_str() {
            "content-length" => {
                let n: usize = value.parse().ok().filter(|_| value.bytes().all(|b| b.is_ascii_digit())).ok_or_else(|| bad(400, "Content-Length is not a number"))?;
                if length.is_some_and(|m| m != n) {
                    return Err(bad(400, "two different Content-Length headers"));
                }
                length = Some(n);
            }
            "transfer-encoding" => {
                if value.eq_ignore_ascii_case("chunked") {
                    chunked = true;
                } else {
                    return Err(bad(501, format!("Transfer-Encoding {value:.30} is not supported (only chunked)")));
                }
            }
            "connection" => {
                let tokens = value.split(',').map(str::trim);
                for t in tokens {
                    close |= t.eq_ignore_ascii_case("close");
                    keep_alive |= t.eq_ignore_ascii_case("keep-alive");
                }
            }
            "expect" => expect = value.eq_ignore_ascii_case("100-continue"),
            _ => {}
        }
    }
    if http10 && keep_alive {
        close = false;
    }
    if chunked && length.is_some() {
        return Err(bad(400, "both Content-Length and chunked: which one is the body's length?"));
    }

    let mut held = Held::default();
    let body = if chunked {
        if expect {
            expect_continue()?;
        }
        read_chunked(r, limits, budget, &mut held)?
    } else {
        match length.unwrap_or(0) {
            n if n > limits.max_body => {
                // Refused unread: the connection is closed after the answer.
                close = true;
                None
            }
            0 => Some(Vec::new()),
            n => {
                if !budget.take(&mut held, n) {
                    return Err(bad(503, "the server is busy receiving other images: try again in a moment"));
                }
                if expect {
                    expect_continue()?;
                }
                let mut body = vec![0; n];
                r.read_exact(&mut body).map_err(|e| match e.kind() {
                    io::ErrorKind::UnexpectedEof => bad(400, "the body is shorter than its Content-Length"),
                    _ => e.into(),
                })?;
                Some(body)
            }
        }
    };
    if body.is_none() {
        close = true;
    }
    Ok(Request { method: method.to_string(), target, body, close })
}

/// A chunked body (RFC 9112, 7.1), or `None` if it is larger than the limit (then up to as much
/// again is read and dropped, so that a client still sending can read the answer).
fn read_chunked<'a, R: BufRead>(r: &mut R, limits: &Limits, budget: &'a Budget, held: &mut Held<'a>) -> Result<Option<Vec<u8>>, ReadError> {
    let mut body = Vec::new();
    let mut line = Vec::new();
    let mut too_large = false;
    let mut dropped = 0usize;
    loop {
        line.clear();
        let mut left = 1024;
        if read_line(r, &mut line, &mut left)? == 0 {
            return Err(bad(400, "the connection ended inside a chunked body"));
        }
        let size = std::str::from_utf8(trim_eol(&line)).ok().map(|l| l.split(';').next().unwrap_or("").trim()).and_then(|s| usize::from_str_radix(s, 16).ok());
        let size = size.ok_or_else(|| bad(400, "a chunk's size is not a hexadecimal number"))?;
        if size == 0 {
            // Trailers, up to the blank line.
            loop {
                line.clear();
                let mut left = MAX_HEAD;
                if read_line(r, &mut line, &mut left)? == 0 || trim_eol(&line).is_empty() {
                    break;
                }
            }
            return Ok((!too_large).then_some(body));
        }
        if !too_large && body.len() + size > limits.max_body {
            too_large = true;
            body = Vec::new();
        }
        if too_large {
            dropped = dropped.saturating_add(size);
            if dropped > limits.max_body {
                return Ok(None);
            }
            io::copy(&mut r.by_ref().take(size as u64), &mut io::sink())?;
        } else {
            if !budget.take(held, size) {
                return Err(bad(503, "the server is busy receiving other images: try again in a moment"));
            }
            let start = body.len();
            body.resize(start + size, 0);
            r.read_exact(&mut body[start..]).map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => bad(400, "the connection ended inside a chunk"),
                _ => e.into(),
            })?;
        }
        let mut end = [0u8; 1];
        r.read_exact(&mut end)?;
        if end == *b"\r" {
            r.read_exact(&mut end)?;
        }
        if end != *b"\n" {
            return Err(bad(400, "a chunk is longer than its size"));
        }
    }
}

fn bad(status: u16, message: impl Into<String>) -> ReadError {
    ReadError::Bad(status, message.into())
}

/// Reads up to and including `\n`, at most `left` bytes (counted down); a longer line is a 431.
fn read_line<R: BufRead>(r: &mut R, line: &mut Vec<u8>, left: &mut usize) -> Result<usize, ReadError> {
    let n = r.by_ref().take(*left as u64 + 1).read_until(b'\n', line)?;
    if n > *left {
        return Err(bad(431, "the request's headers are too large"));
    }
    *left -= n;
    if n > 0 && !line.ends_with(b"\n") {
        return Err(bad(400, "the connection ended inside a line"));
    }
    Ok(n)
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn read(bytes: &[u8]) -> Result<Request, ReadError> {
        let limits = Limits { max_body: 1000, ..Limits::default() };
        read_request(&mut io::Cursor::new(bytes), &limits, &Budget::new(1 << 20), || Ok(()))
    }

    #[test]
    fn reads_requests_with_and_without_bodies() {
        let r = read(b"GET /?a=1 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!((r.method.as_str(), r.target.as_str(), r.body.as_deref(), r.close), ("GET", "/?a=1", Some(&b""[..]), false));
        let r = read(b"POST /predict HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc").unwrap();
        assert_eq!((r.body.as_deref(), r.close), (Some(&b"abc"[..]), true));
        let r = read(b"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n").unwrap();
        assert_eq!(r.body.as_deref(), Some(&b"abcde"[..]));
        let r = read(b"POST /p HTTP/1.1\r\nContent-Length: 5000\r\n\r\n").unwrap();
        assert_eq!((r.body, r.close), (None, true), "too large: refused unread");
        assert!(matches!(read(b""), Err(ReadError::Closed)));
    }

    #[test]
    fn bad_requests_are_4xx_with_a_reason() {
        for (bytes, status) in [
            (&b"hello\r\n\r\n"[..], 400),
            (b"GET / HTTP/2\r\n\r\n", 400),
            (b"GET nowhere HTTP/1.1\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400),
            (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
            (b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc", 400),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
            (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
            (b"GET / HTTP/1.1\r\nNo colon\r\n\r\n", 400),
        ] {
            match read(bytes) {
                Err(ReadError::Bad(s, m)) => assert_eq!(s, status, "{}: {m}", String::from_utf8_lossy(bytes)),
                other => panic!("{}: {other:?}", String::from_utf8_lossy(bytes)),
            }
        }
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(MAX_HEAD));
        assert!(matches!(read(huge.as_bytes()), Err(ReadError::Bad(431, _))));
    }

    /// Random and mutated requests: each is read or refused, never a panic, and reading ends.
    #[test]
    fn any_bytes_are_read_or_refused_without_a_panic() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let seeds: [&[u8]; 3] = [
            b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
            b"POST /p HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
        ];
        for i in 0..20_000 {
            let mut bytes = seeds[i % seeds.len()].to_vec();
            for _ in 0..rng.gen_range(1..6) {
                let at = rng.gen_range(0..=bytes.len());
                match rng.gen_range(0..4) {
                    0 if at < bytes.len() => bytes[at] = rng.gen(),
                    1 => bytes.insert(at, *b"\r\n:0 ;fF-".get(rng.gen_range(0..9)).unwrap()),
                    2 => bytes.truncate(at),
                    _ => bytes.extend((0..rng.gen_range(0..40)).map(|_| rng.gen::<u8>())),
                }
            }
            let _ = read(&bytes);
        }
    }

    #[test]
    fn the_budget_bounds_bodies_held_together() {
        let budget = Budget::new(10);
        let (mut a, mut b) = (Held::default(), Held::default());
        assert!(budget.take(&mut a, 6));
        assert!(!budget.take(&mut b, 6));
        drop(a);
        assert!(budget.take(&mut b, 6));
    }
}
