//! A small HTTP/1.1 server that a classroom can share: each connection on its own thread, so a
//! slow phone never holds up the others; every request must arrive within a deadline; a cap on
//! connections, beyond which a client is told politely (503) to come back; bodies bounded one
//! by one and all together, so memory stays bounded whatever clients send.
//!
//! It speaks just what the page and tools such as `curl` need: `Content-Length` and chunked
//! bodies, `Expect: 100-continue`, keep-alive. Any request it cannot read gets a 4xx answer
//! and the connection is closed.
use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::request::{read_request, Budget, ReadError};
use super::Reply;

/// What the server allows, and how long it waits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once; a client beyond them is answered 503 and asked to retry.
    pub max_connections: usize,
    /// The most a request may take to arrive, headers and body (a stalled or trickling client
    /// is then answered 408 and dropped), and how long an idle kept-alive connection is kept.
    pub client_timeout: Duration,
    /// The largest request body.
    pub max_body: usize,
    /// The most body bytes held at once, all connections together (beyond it: 503).
    pub body_budget: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_connections: 512, client_timeout: Duration::from_secs(20), max_body: super::MAX_BODY, body_budget: 64 << 20 }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Writes `reply` as an HTTP/1.1 response.
pub fn write_reply(w: &mut impl Write, reply: &Reply, close: bool) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: {}\r\n",
        reply.status,
        reason(reply.status),
        reply.content_type,
        reply.body.len(),
        if close { "close" } else { "keep-alive" }
    );
    if reply.status == 503 {
        head.push_str("Retry-After: 1\r\n");
    }
    head.push_str("\r\n");
    w.write_all(head.as_bytes())?;
    w.write_all(&reply.body)?;
    w.flush()
}

/// A connection whose every read must finish by `deadline`.
struct Deadlined {
    stream: TcpStream,
    deadline: Instant,
}

impl Read for Deadlined {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

/// Serves `listener` with `handler` (method, path and query, body or `None` if too large)
/// until the process ends.
pub fn run<H>(listener: TcpListener, limits: &Limits, handler: &H) -> io::Result<()>
where
    H: Fn(&str, &str, Option<&[u8]>) -> Reply + Sync,
{
    let active = AtomicUsize::new(0);
    let budget = Budget::new(limits.body_budget);
    // Refusals are answered on a thread of their own, a few at a time, so that a flood of
    // connections neither blocks the accepting loop nor starts a thread each.
    let (refuse, refusals) = mpsc::sync_channel::<TcpStream>(256);
    std::thread::scope(|scope| {
        scope.spawn(move || refuse_all(refusals));
        for stream in listener.incoming() {
            let stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    // Out of file descriptors, or a connection reset before it was accepted.
                    eprintln!("could not accept a connection: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            };
            if active.fetch_add(1, Ordering::AcqRel) >= limits.max_connections {
                active.fetch_sub(1, Ordering::AcqRel);
                let _ = refuse.try_send(stream); // when even the refusals queue is full: dropped
                continue;
            }
            let (active, budget) = (&active, &budget);
            let spawned = std::thread::Builder::new().stack_size(512 * 1024).spawn_scoped(scope, move || {
                let _done = Leave(active);
                let _ = connection(stream, limits, budget, handler);
            });
            if let Err(e) = spawned {
                eprintln!("could not start a thread for a connection: {e}");
            }
        }
    });
    Ok(())
}

/// Counts a connection out when its thread ends, however it ends.
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One connection: requests answered in turn until the client closes, stays idle past the
/// timeout, or sends something unreadable.
fn connection<H>(stream: TcpStream, limits: &Limits, budget: &Budget, handler: &H) -> io::Result<()>
where
    H: Fn(&str, &str, Option<&[u8]>) -> Reply + Sync,
{
    stream.set_nodelay(true)?;
    stream.set_write_timeout(Some(limits.client_timeout))?;
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(Deadlined { stream, deadline: Instant::now() });
    loop {
        reader.get_mut().deadline = Instant::now() + limits.client_timeout;
        let continue_writer = &mut writer;
        let request = read_request(&mut reader, limits, budget, || continue_writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n"));
        let (reply, close) = match request {
            Ok(req) => {
                let reply = catch_unwind(AssertUnwindSafe(|| handler(&req.method, &req.target, req.body.as_deref())))
                    .unwrap_or_else(|_| Reply::error(500, "the server failed on this request (a bug: please report it)"));
                (reply, req.close)
            }
            Err(ReadError::Closed | ReadError::Io(_)) => return Ok(()),
            Err(ReadError::Timeout) => (Reply::error(408, "the request took too long to arrive"), true),
            Err(ReadError::Bad(status, message)) => (Reply::error(status, message), true),
        };
        write_reply(&mut writer, &reply, close)?;
        if close {
            // Close politely: stop writing, then drop what the client may still be sending,
            // so that it reads the answer instead of a reset.
            let _ = writer.shutdown(Shutdown::Write);
            reader.get_mut().deadline = Instant::now() + Duration::from_secs(1);
            let _ = io::copy(&mut reader.take(1 << 20), &mut io::sink());
            return Ok(());
        }
    }
}

/// Answers clients beyond the cap, without waiting on any: what has arrived of each request is
/// read, the 503 written (a few hundred bytes, which a fresh connection's buffer always takes)
/// and the connection half-closed; it is kept for a moment, reading whatever else the client
/// sends, so that the client reads the answer rather than a reset.
fn refuse_all(refusals: mpsc::Receiver<TcpStream>) {
    const LINGER: Duration = Duration::from_secs(1);
    let busy = Reply::error(503, "the server is busy with other clients: try again in a moment");
    let mut lingering: std::collections::VecDeque<(TcpStream, Instant)> = Default::default();
    let drain = |s: &mut TcpStream| {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return false,
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
    };
    loop {
        let next = if lingering.is_empty() { refusals.recv().ok() } else {
            match refusals.recv_timeout(Duration::from_millis(20)) {
                Ok(s) => Some(s),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => return,
            }
        };
        if let Some(mut stream) = next {
            if stream.set_nonblocking(true).is_ok() {
                drain(&mut stream);
                if write_reply(&mut stream, &busy, true).is_ok() && stream.shutdown(Shutdown::Write).is_ok() {
                    lingering.push_back((stream, Instant::now()));
                }
            }
        } else if lingering.is_empty() {
            return; // the channel closed
        }
        // Read what the lingering clients still send; let go of those done or waited for long enough.
        lingering.retain_mut(|(s, since)| since.elapsed() < LINGER && drain(s));
        while lingering.len() > 1024 {
            lingering.pop_front();
        }
    }
}
