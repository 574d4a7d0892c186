//! A minimal HTTP/1.1 keep-alive client on a tokio `TcpStream`: one request at a time per
//! connection, `Content-Length` or chunked answers. Enough for loopback load generation with
//! little client CPU per request (the client shares the machine with the server).

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// The largest answer accepted (a bound against a broken server; the largest real answer, a
/// 1,000-id seed batch, is about 40 KB).
const RESPONSE_BYTES_MAX: usize = 16 << 20;

/// One keep-alive connection.
pub struct Connection {
    stream: BufReader<TcpStream>,
    line: String,
}

/// A `GET` request's bytes.
pub fn get(port: u16, path: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").into_bytes()
}

/// A `POST` request's bytes with a JSON body.
pub fn post(port: u16, path: &str, body: &str) -> Vec<u8> {
    format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len())
        .into_bytes()
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message)
}

impl Connection {
    /// Connects to `127.0.0.1:port` (Nagle off).
    pub async fn open(port: u16) -> io::Result<Connection> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.set_nodelay(true)?;
        Ok(Connection { stream: BufReader::new(stream), line: String::new() })
    }

    async fn read_line(&mut self) -> io::Result<&str> {
        self.line.clear();
        if self.stream.read_line(&mut self.line).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(self.line.trim_end())
    }

    /// Sends `request` (from [`get`] or [`post`]) and reads the answer: its status and body.
    pub async fn send(&mut self, request: &[u8]) -> io::Result<(u16, Vec<u8>)> {
        self.stream.get_mut().write_all(request).await?;
        let status_line = self.read_line().await?;
        let status: u16 = status_line.get(9..12).and_then(|s| s.parse().ok()).ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
        let (mut length, mut chunked) = (None, false);
        loop {
            let line = self.read_line().await?.to_ascii_lowercase();
            if line.is_empty() {
                break;
            }
            if let Some(value) = line.strip_prefix("content-length:") {
                length = Some(value.trim().parse::<usize>().map_err(|_| invalid(format!("bad {line:?}")))?);
            } else if line.starts_with("transfer-encoding:") && line.contains("chunked") {
                chunked = true;
            }
        }
        let body = match (length, chunked) {
            (Some(length), false) => self.read_exact(length).await?,
            (_, true) => self.read_chunked().await?,
            (None, false) => Vec::new(),
        };
        Ok((status, body))
    }

    async fn read_exact(&mut self, length: usize) -> io::Result<Vec<u8>> {
        if length > RESPONSE_BYTES_MAX {
            return Err(invalid(format!("answer of {length} bytes")));
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok(body)
    }

    async fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let size_line = self.read_line().await?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16).map_err(|_| invalid(format!("bad chunk size {size_line:?}")))?;
            if body.len() + size > RESPONSE_BYTES_MAX {
                return Err(invalid("chunked answer too long".into()));
            }
            let chunk = self.read_exact(size).await?;
            body.extend_from_slice(&chunk);
            self.read_line().await?; // the CRLF after the chunk (or the empty trailer)
            if size == 0 {
                return Ok(body);
            }
        }
    }
}
