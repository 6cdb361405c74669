//! A minimal blocking FastCGI client for the tests against real PHP-FPM: one responder
//! request per connection (BEGIN_REQUEST, the CGI params, an empty PARAMS and an empty
//! STDIN record), then every record until END_REQUEST. Framing after the FastCGI 1.0
//! specification (<https://fastcgi-archives.github.io/FastCGI_Specification.html>):
//! 8-byte headers, big-endian lengths, 1- or 4-byte name-value lengths.

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

const VERSION: u8 = 1;
const BEGIN_REQUEST: u8 = 1;
const END_REQUEST: u8 = 3;
const PARAMS: u8 = 4;
const STDIN: u8 = 5;
const STDOUT: u8 = 6;
const STDERR: u8 = 7;
const RESPONDER: u16 = 1;
/// Our one request per connection; PHP-FPM answers with the same id.
const REQUEST_ID: u16 = 1;

/// The longest a read may block: far above any request the tests send.
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// One GET request for a script.
#[derive(Debug, Clone)]
pub struct Request {
    /// The file PHP-FPM runs (`SCRIPT_FILENAME`), or the status path for the status page.
    pub script_filename: String,
    /// The URI path (`SCRIPT_NAME`; PHP-FPM matches `pm.status_path` against it).
    pub script_name: String,
    /// `QUERY_STRING`, without the `?`.
    pub query: String,
}

impl Request {
    /// The whole request as bytes: BEGIN_REQUEST (responder, connection closed after the
    /// request), PARAMS, an empty PARAMS, an empty STDIN.
    pub fn encode(&self) -> Vec<u8> {
        let uri = if self.query.is_empty() {
            self.script_name.clone()
        } else {
            format!("{}?{}", self.script_name, self.query)
        };
        let mut params = Vec::new();
        for (name, value) in [
            ("SCRIPT_FILENAME", self.script_filename.as_str()),
            ("SCRIPT_NAME", &self.script_name),
            ("REQUEST_METHOD", "GET"),
            ("QUERY_STRING", &self.query),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("GATEWAY_INTERFACE", "CGI/1.1"),
            ("REQUEST_URI", &uri),
        ] {
            name_value(&mut params, name.as_bytes(), value.as_bytes());
        }
        let mut begin = RESPONDER.to_be_bytes().to_vec();
        begin.extend_from_slice(&[0; 6]); // flags 0: PHP-FPM closes after the request
        let mut out = Vec::new();
        record(&mut out, BEGIN_REQUEST, &begin);
        record(&mut out, PARAMS, &params);
        record(&mut out, PARAMS, &[]);
        record(&mut out, STDIN, &[]);
        out
    }
}

/// What PHP-FPM answered.
#[derive(Debug, Default)]
pub struct Response {
    /// The STDOUT stream: CGI headers, a blank line, the body.
    pub stdout: Vec<u8>,
    /// The STDERR stream (PHP warnings).
    pub stderr: Vec<u8>,
    /// END_REQUEST's application status (the script's exit status).
    pub app_status: u32,
    /// END_REQUEST's protocol status (0 = request complete).
    pub protocol_status: u8,
}

impl Response {
    /// The body: STDOUT after the CGI headers.
    pub fn body(&self) -> &str {
        let text = std::str::from_utf8(&self.stdout).expect("UTF-8 response");
        text.split_once("\r\n\r\n").map_or(text, |(_, body)| body)
    }
}

/// Appends one record of type `kind` (no padding: it is optional).
fn record(out: &mut Vec<u8>, kind: u8, content: &[u8]) {
    let len = u16::try_from(content.len()).expect("a record holds at most 65535 bytes");
    out.extend_from_slice(&[VERSION, kind]);
    out.extend_from_slice(&REQUEST_ID.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0, 0]); // padding length, reserved
    out.extend_from_slice(content);
}

/// Appends one name-value pair: lengths below 128 in one byte, others in four with the
/// top bit set.
fn name_value(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    for len in [name.len(), value.len()] {
        if len < 128 {
            out.push(len as u8);
        } else {
            out.extend_from_slice(&(len as u32 | 0x8000_0000).to_be_bytes());
        }
    }
    out.extend_from_slice(name);
    out.extend_from_slice(value);
}

/// Connects to the unix socket at `socket` and writes the whole of `request`; the
/// response is read later with [`read_response`], so that many requests can be queued
/// before any is answered.
pub fn send(socket: &Path, request: &Request) -> io::Result<UnixStream> {
    let mut stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.set_write_timeout(Some(READ_TIMEOUT))?;
    stream.write_all(&request.encode())?;
    Ok(stream)
}

/// Reads records until END_REQUEST (each read bounded by [`READ_TIMEOUT`]).
pub fn read_response(stream: &mut UnixStream) -> io::Result<Response> {
    let mut response = Response::default();
    loop {
        let mut header = [0u8; 8];
        stream.read_exact(&mut header)?;
        let len = u16::from_be_bytes([header[4], header[5]]) as usize;
        let mut content = vec![0u8; len + header[6] as usize];
        stream.read_exact(&mut content)?;
        content.truncate(len);
        match header[1] {
            STDOUT => response.stdout.extend_from_slice(&content),
            STDERR => response.stderr.extend_from_slice(&content),
            END_REQUEST if len >= 5 => {
                response.app_status =
                    u32::from_be_bytes([content[0], content[1], content[2], content[3]]);
                response.protocol_status = content[4];
                return Ok(response);
            }
            kind => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unexpected FastCGI record type {kind} ({len} bytes)"),
                ));
            }
        }
    }
}

/// One request, sent and answered.
pub fn get(socket: &Path, request: &Request) -> io::Result<Response> {
    read_response(&mut send(socket, request)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_get_four_byte_lengths() {
        let mut out = Vec::new();
        name_value(&mut out, b"K", &[b'v'; 200]);
        assert_eq!(&out[..5], &[1, 0x80, 0, 0, 200]);
        assert_eq!(out.len(), 5 + 1 + 200);
    }
}
