//! Credentials in a URL (`http://user:password@host/…`): taken out before the URL is
//! printed or written anywhere (a report, a JSON file, a log line), and sent instead as HTTP
//! Basic authorization (RFC 7617), which is what the URL asked for.

/// `url` without its `user:password@`, and those credentials, if it had any.
pub fn split(url: &str) -> (String, Option<Credentials>) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let shown = if scheme.is_empty() {
                format!("{host}{path}")
            } else {
                format!("{scheme}://{host}{path}")
            };
            (shown, Some(Credentials(percent_decoded(userinfo))))
        }
        None => (url.to_string(), None),
    }
}

/// `user:password` from a URL, decoded. Its `Debug` shows no password.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials(String);

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let user = self.0.split(':').next().unwrap_or("");
        write!(f, "Credentials({user}:…)")
    }
}

impl Credentials {
    /// The `Authorization` header's value: `Basic` and the base64 of `user:password`.
    pub fn basic(&self) -> String {
        format!("Basic {}", base64(self.0.as_bytes()))
    }
}

/// `%XX` escapes decoded (a password with `@` or `:` in it is written so in a URL); an
/// escape that is not one is kept as written.
fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            let letter = ALPHABET[(n >> shift & 63) as usize] as char;
            out.push(if i <= chunk.len() { letter } else { '=' });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url_and_become_basic_authorization() {
        let (url, credentials) = split("http://admin:hunter2@host:8080/run?runs=1");
        assert_eq!(url, "http://host:8080/run?runs=1");
        let credentials = credentials.unwrap();
        // RFC 7617's example: Aladdin:open sesame.
        assert_eq!(
            Credentials("Aladdin:open sesame".into()).basic(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(credentials.basic(), "Basic YWRtaW46aHVudGVyMg==");
        assert!(!format!("{credentials:?}").contains("hunter2"));
        let (_, escaped) = split("https://u:p%40ss%3A@h");
        assert_eq!(escaped, Some(Credentials("u:p@ss:".into())));
        assert_eq!(
            split("http://h/x@y"),
            ("http://h/x@y".into(), None),
            "@ in the path"
        );
        assert_eq!(split("http://h"), ("http://h".into(), None));
    }

    #[test]
    fn base64_pads_as_rfc_4648_says() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (text, encoded) in vectors {
            assert_eq!(base64(text.as_bytes()), encoded, "{text}");
        }
    }
}
