//! Requests the load generator sends and how it tells where each response ends.

/// The protocol spoken to the server under load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wire {
    /// Sends `message_size` bytes; the response is the same number of bytes back.
    Echo {
        /// Bytes per request.
        message_size: usize,
    },
    /// Sends `GET /` with keep-alive; the response ends after its `Content-Length` body.
    Http,
}

const HTTP_REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

impl Wire {
    /// The bytes of one request.
    pub fn request(self) -> Vec<u8> {
        match self {
            Wire::Echo { message_size } => {
                (0..message_size).map(|i| b'a' + (i % 26) as u8).collect()
            }
            Wire::Http => HTTP_REQUEST.to_vec(),
        }
    }

    /// A fresh response splitter for one connection.
    pub fn splitter(self) -> ResponseSplitter {
        ResponseSplitter {
            wire: self,
            buffered: Vec::new(),
            echo_bytes: 0,
        }
    }
}

/// Counts complete responses in a byte stream.
pub struct ResponseSplitter {
    wire: Wire,
    buffered: Vec<u8>,
    echo_bytes: usize,
}

impl ResponseSplitter {
    /// Consumes received bytes; returns how many responses they completed.
    pub fn feed(&mut self, bytes: &[u8]) -> usize {
        match self.wire {
            Wire::Echo { message_size } => {
                self.echo_bytes += bytes.len();
                let complete = self.echo_bytes / message_size;
                self.echo_bytes %= message_size;
                complete
            }
            Wire::Http => {
                self.buffered.extend_from_slice(bytes);
                let mut complete = 0;
                while let Some(len) = http_response_len(&self.buffered) {
                    self.buffered.drain(..len);
                    complete += 1;
                }
                complete
            }
        }
    }
}

/// Length of the first complete response in `buf`, header and body.
fn http_response_len(buf: &[u8]) -> Option<usize> {
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let body = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    (buf.len() >= head_end + body).then_some(head_end + body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::http_response;

    #[test]
    fn echo_counts_whole_messages() {
        let mut splitter = Wire::Echo { message_size: 4 }.splitter();
        assert_eq!(splitter.feed(b"abc"), 0);
        assert_eq!(splitter.feed(b"dabcdab"), 2);
        assert_eq!(splitter.feed(b"cd"), 1);
    }

    #[test]
    fn http_counts_responses_split_anywhere() {
        let stream = [http_response(), http_response(), http_response()].concat();
        let mut splitter = Wire::Http.splitter();
        let (first, rest) = stream.split_at(30);
        assert_eq!(splitter.feed(first), 0);
        let (second, third) = rest.split_at(rest.len() - 5);
        assert_eq!(splitter.feed(second), 2);
        assert_eq!(splitter.feed(third), 1);
    }
}
