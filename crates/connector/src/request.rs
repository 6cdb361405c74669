//! The bytes sent once right after each connect: `--send TEXT` with its escapes,
//! `--send-file FILE` as it is, or `--fastcgi SCRIPT[?QUERY]`, a FastCGI GET request
//! built here (issue 7), so that a PHP-FPM pool can be loaded on its own socket with no
//! web server in front.
//!
//! The FastCGI request follows the FastCGI 1.0 specification
//! (<https://fastcgi-archives.github.io/FastCGI_Specification.html>): `FCGI_BEGIN_REQUEST`
//! (role `FCGI_RESPONDER`, flags 0, so the application closes the connection when it has
//! answered, section 5.1), one `FCGI_PARAMS` record with the CGI variables, the empty
//! `FCGI_PARAMS` record that ends the stream, and an empty `FCGI_STDIN` (a GET has no
//! body).

/// `--fastcgi` values that cannot be used; `Display` gives the reason and the form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// `\q`, a lone `\` at the end, or `\x` without two hex digits.
    #[error("bad escape '{0}'; the escapes are \\r \\n \\t \\\\ \\0 and \\xHH (two hex digits)")]
    BadEscape(String),
    /// `--fastcgi ''` or `--fastcgi ?a=1`.
    #[error("the script is empty; expected SCRIPT[?QUERY], e.g. /var/www/sleep.php?s=1")]
    EmptyScript,
    /// A name or value too long for a FastCGI record.
    #[error("the request does not fit one FastCGI record (65535 bytes of parameters)")]
    TooLong,
}

/// Decodes `--send TEXT`: `\r \n \t \\ \0 \xHH` become the bytes they name; everything
/// else is sent as its UTF-8 bytes.
pub fn unescape(text: &str) -> Result<Vec<u8>, RequestError> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        if c != '\\' {
            let mut utf8 = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            continue;
        }
        let byte = match chars.next().map(|(_, e)| e) {
            Some('r') => b'\r',
            Some('n') => b'\n',
            Some('t') => b'\t',
            Some('\\') => b'\\',
            Some('0') => 0,
            Some('x') => {
                let hex: String = chars.by_ref().take(2).map(|(_, h)| h).collect();
                match u8::from_str_radix(&hex, 16) {
                    Ok(b) if hex.len() == 2 => b,
                    _ => return Err(RequestError::BadEscape(format!("\\x{hex}"))),
                }
            }
            _ => {
                let bad: String = text[at..].chars().take(2).collect();
                return Err(RequestError::BadEscape(bad));
            }
        };
        out.push(byte);
    }
    Ok(out)
}

/// FastCGI record types (specification, section 8).
const FCGI_BEGIN_REQUEST: u8 = 1;
const FCGI_PARAMS: u8 = 4;
const FCGI_STDIN: u8 = 5;
/// The one role that answers a request (section 6.2).
const FCGI_RESPONDER: u16 = 1;
/// Our only request on the connection.
const REQUEST_ID: u16 = 1;

/// Builds the FastCGI GET request for `--fastcgi SCRIPT[?QUERY]`.
pub fn fastcgi_get(target: &str) -> Result<Vec<u8>, RequestError> {
    let (script, query) = target.split_once('?').unwrap_or((target, ""));
    if script.is_empty() {
        return Err(RequestError::EmptyScript);
    }
    let params: [(&str, &str); 6] = [
        ("SCRIPT_FILENAME", script),
        ("SCRIPT_NAME", script),
        ("REQUEST_METHOD", "GET"),
        ("QUERY_STRING", query),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("GATEWAY_INTERFACE", "CGI/1.1"),
    ];
    let mut body = Vec::new();
    for (name, value) in params {
        push_length(&mut body, name.len())?;
        push_length(&mut body, value.len())?;
        body.extend_from_slice(name.as_bytes());
        body.extend_from_slice(value.as_bytes());
    }
    let mut out = Vec::new();
    let begin = [
        (FCGI_RESPONDER >> 8) as u8,
        FCGI_RESPONDER as u8,
        0, // flags: no FCGI_KEEP_CONN, the application closes when done
        0,
        0,
        0,
        0,
        0,
    ];
    push_record(&mut out, FCGI_BEGIN_REQUEST, &begin)?;
    push_record(&mut out, FCGI_PARAMS, &body)?;
    push_record(&mut out, FCGI_PARAMS, &[])?;
    push_record(&mut out, FCGI_STDIN, &[])?;
    Ok(out)
}

/// A name-value length: one byte below 128, else four with the top bit set (section 3.4).
fn push_length(out: &mut Vec<u8>, len: usize) -> Result<(), RequestError> {
    match u32::try_from(len) {
        Ok(n) if n < 128 => out.push(n as u8),
        Ok(n) if n < 1 << 31 => out.extend_from_slice(&(n | 1 << 31).to_be_bytes()),
        _ => return Err(RequestError::TooLong),
    }
    Ok(())
}

/// One record: version 1, type, request id, content length, no padding (section 3.3).
fn push_record(out: &mut Vec<u8>, kind: u8, content: &[u8]) -> Result<(), RequestError> {
    let len = u16::try_from(content.len()).map_err(|_| RequestError::TooLong)?;
    out.extend_from_slice(&[1, kind]);
    out.extend_from_slice(&REQUEST_ID.to_be_bytes());
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0, 0]); // padding length, reserved
    out.extend_from_slice(content);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_become_their_bytes() {
        assert_eq!(
            unescape(r"GET / HTTP/1.0\r\n\r\n").unwrap(),
            b"GET / HTTP/1.0\r\n\r\n"
        );
        assert_eq!(
            unescape(r"a\tb\\c\0\x41\xfF é").unwrap(),
            b"a\tb\\c\0A\xff \xc3\xa9"
        );
        for bad in [r"\q", "\\", r"\x4", r"\xzz", r"ab\x"] {
            assert!(
                matches!(unescape(bad), Err(RequestError::BadEscape(_))),
                "{bad}"
            );
        }
        assert_eq!(
            unescape(r"a\qb").unwrap_err().to_string(),
            r"bad escape '\q'; the escapes are \r \n \t \\ \0 and \xHH (two hex digits)"
        );
    }

    #[test]
    fn fastcgi_request_has_the_four_records() {
        let req = fastcgi_get("/srv/a.php?x=1").unwrap();
        assert_eq!(&req[..8], &[1, FCGI_BEGIN_REQUEST, 0, 1, 0, 8, 0, 0]);
        assert_eq!(&req[8..10], &[0, 1], "role responder");
        let params = &req[16..];
        assert_eq!(params[1], FCGI_PARAMS);
        let len = usize::from(u16::from_be_bytes([params[4], params[5]]));
        let body = &params[8..8 + len];
        assert_eq!(&body[..2], &[15, 10]);
        assert_eq!(&body[2..27], b"SCRIPT_FILENAME/srv/a.php");
        let tail = &params[8 + len..];
        assert_eq!(
            tail,
            &[
                1,
                FCGI_PARAMS,
                0,
                1,
                0,
                0,
                0,
                0,
                1,
                FCGI_STDIN,
                0,
                1,
                0,
                0,
                0,
                0
            ]
        );
        assert!(body.windows(13).any(|w| w == b"QUERY_STRINGx"), "{body:?}");
        assert_eq!(fastcgi_get("").unwrap_err(), RequestError::EmptyScript);
        assert_eq!(fastcgi_get("?a=1").unwrap_err(), RequestError::EmptyScript);
    }

    #[test]
    fn long_values_get_four_byte_lengths() {
        let mut out = Vec::new();
        push_length(&mut out, 300).unwrap();
        assert_eq!(out, [0x80, 0, 1, 44]);
    }
}
