//! What the servers say back: echo, or a fixed HTTP/1.1 response.

/// Turns bytes received on a connection into bytes to send back.
pub trait Protocol {
    /// Consumes `input`, appends any reply to `output`. Returns false once the connection
    /// should close after the reply is sent.
    fn on_input(&mut self, input: &[u8], output: &mut Vec<u8>) -> bool;
}

/// Sends every byte back.
#[derive(Default)]
pub struct Echo;

impl Protocol for Echo {
    fn on_input(&mut self, input: &[u8], output: &mut Vec<u8>) -> bool {
        output.extend_from_slice(input);
        true
    }
}

/// A slow callback planted in an echo server (`tickloop-echo --slow-every N --slow-ms MS`):
/// every `every`-th input over all connections blocks the loop for `delay` before it is echoed.
#[derive(Clone, Copy, Debug)]
pub struct SlowCallback {
    pub every: u64,
    pub delay: std::time::Duration,
}

static SLOW: std::sync::OnceLock<SlowCallback> = std::sync::OnceLock::new();
static INPUTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl SlowCallback {
    /// Makes every [`SlowEcho`] of this process slow; the first call wins.
    pub fn plant(self) {
        let _ = SLOW.set(self);
    }
}

/// [`Echo`] with the planted [`SlowCallback`], if any.
#[derive(Default)]
pub struct SlowEcho;

impl Protocol for SlowEcho {
    fn on_input(&mut self, input: &[u8], output: &mut Vec<u8>) -> bool {
        if let Some(slow) = SLOW.get() {
            let n = INPUTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
            if slow.every > 0 && n.is_multiple_of(slow.every) {
                std::thread::sleep(slow.delay);
            }
        }
        Echo.on_input(input, output)
    }
}

/// The body every HTTP request gets.
pub const HTTP_BODY: &[u8] = b"Hello, world!\n";

/// Answers each HTTP/1.1 request with the same 200 response; keeps the connection open unless
/// the request says `Connection: close` (or is HTTP/1.0 without `keep-alive`). Pipelined
/// requests are answered in order; request bodies are skipped by `Content-Length`.
#[derive(Default)]
pub struct FixedHttp {
    /// Bytes of a request whose header block has not fully arrived.
    partial: Vec<u8>,
    /// Body bytes of the current request still to skip.
    body_left: usize,
}

/// The full response, header and body.
pub fn http_response() -> Vec<u8> {
    let mut response = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        HTTP_BODY.len()
    )
    .into_bytes();
    response.extend_from_slice(HTTP_BODY);
    response
}

/// The request header facts the server acts on.
struct RequestHead {
    keep_alive: bool,
    content_length: usize,
}

fn parse_head(head: &[u8]) -> RequestHead {
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    let mut lines = text.split("\r\n");
    let request_line = lines.next().unwrap_or_default();
    let mut keep_alive = !request_line.ends_with("http/1.0");
    let mut content_length = 0;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        match (name.trim(), value.trim()) {
            ("connection", "close") => keep_alive = false,
            ("connection", "keep-alive") => keep_alive = true,
            ("content-length", n) => content_length = n.parse().unwrap_or(0),
            _ => {}
        }
    }
    RequestHead {
        keep_alive,
        content_length,
    }
}

impl Protocol for FixedHttp {
    fn on_input(&mut self, input: &[u8], output: &mut Vec<u8>) -> bool {
        let skipped = self.body_left.min(input.len());
        self.body_left -= skipped;
        let input = &input[skipped..];
        if input.is_empty() {
            return true;
        }
        // The terminator may straddle the previous chunk and this one.
        let search_from = self.partial.len().saturating_sub(3);
        self.partial.extend_from_slice(input);
        let Some(end) = find(&self.partial[search_from..], b"\r\n\r\n") else {
            return true;
        };
        let head_len = search_from + end + 4;
        let head = parse_head(&self.partial[..head_len]);
        output.extend_from_slice(&http_response());
        if !head.keep_alive {
            return false;
        }
        // What follows the header block is the body, then the next request.
        let rest = self.partial.split_off(head_len);
        self.partial.clear();
        self.body_left = head.content_length;
        self.on_input(&rest, output)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_returns_input() {
        let mut out = Vec::new();
        assert!(Echo.on_input(b"abc", &mut out));
        assert_eq!(out, b"abc");
    }

    #[test]
    fn pipelined_and_split_requests_get_one_response_each() {
        let mut http = FixedHttp::default();
        let mut out = Vec::new();
        let two = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /x HTTP/1.1\r\nHo";
        assert!(http.on_input(two, &mut out));
        assert!(http.on_input(b"st: a\r\n\r\n", &mut out));
        assert_eq!(out, [http_response(), http_response()].concat());
    }

    #[test]
    fn bodies_are_skipped_and_close_is_honoured() {
        let mut http = FixedHttp::default();
        let mut out = Vec::new();
        let post = b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
        assert!(http.on_input(post, &mut out));
        assert!(!http.on_input(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", &mut out));
        assert_eq!(out, [http_response(), http_response()].concat());
        let mut out = Vec::new();
        assert!(!FixedHttp::default().on_input(b"GET / HTTP/1.0\r\n\r\n", &mut out));
    }
}
