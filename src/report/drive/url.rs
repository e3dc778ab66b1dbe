//! The URL a drive calls, checked before the first call: its scheme, host, port and
//! workload, the credentials taken out of it.

use crate::credentials::Credentials;
use crate::workload;

/// Why a URL cannot be driven.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error("expected an http:// or https:// URL of a dynoprobe serve; got '{0}'")]
    Scheme(String),
    #[error("'{0}' has no host")]
    Host(String),
    #[error("'{url}': port {port} is not a port number (1 to 65535)")]
    Port { url: String, port: String },
    #[error(
        "'{0}': give the server's base URL without a ?query or #fragment; drive asks for \
         /run?runs=1 and --workload itself"
    )]
    Query(String),
    #[error(transparent)]
    Workload(#[from] workload::UnknownWorkload),
}

/// What a drive calls: its `/run` URL, without the credentials the base URL carried
/// (`user:password@`), which are kept apart so that they are never printed or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: String,
    pub credentials: Option<Credentials>,
}

/// `text` from a server, fit for a terminal: each control character (an ANSI escape's ESC,
/// BEL, CR) written as its escape (`\u{1b}`), so that a hostile server cannot retitle the
/// window or redraw lines through a name it sends.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// `BASE/run?runs=1[&workload=NAME]`; the base may be given with or without `/run`. Its
/// port, when given, is checked (an out-of-range port made the client use port 80). Its
/// credentials are taken out first: no error names them either.
pub fn run_url(base: &str, workload: Option<&str>) -> Result<Target, UrlError> {
    let (given, credentials) = crate::credentials::split(base.trim());
    let given = given.as_str();
    let Some((scheme, rest)) = given
        .split_once("://")
        .filter(|(scheme, _)| ["http", "https"].contains(scheme))
    else {
        return Err(UrlError::Scheme(given.into()));
    };
    let rest = rest.trim_end_matches('/');
    let base = &format!("{scheme}://{rest}");
    if base.contains(['?', '#']) {
        return Err(UrlError::Query(base.into()));
    }
    let authority = rest.split('/').next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    if host_port.is_empty() || host_port.starts_with(':') {
        return Err(UrlError::Host(base.into()));
    }
    // The port follows the last `:`, unless that is inside an IPv6 address's brackets.
    if let Some((_, port)) = host_port.rsplit_once(':').filter(|(_, p)| !p.contains(']'))
        && !matches!(port.parse::<u16>(), Ok(1..))
    {
        return Err(UrlError::Port {
            url: base.into(),
            port: port.into(),
        });
    }
    let base = base.strip_suffix("/run").unwrap_or(base);
    let mut url = format!("{base}/run?runs=1");
    if let Some(name) = workload {
        workload::lookup(name)?;
        url.push_str("&workload=");
        url.push_str(name);
    }
    Ok(Target { url, credentials })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::drive::Call;
    use crate::test_support::ANSWER;

    #[test]
    fn urls_get_the_run_path_and_a_known_workload() {
        assert_eq!(
            run_url("http://127.0.0.1:8080/", None).unwrap().url,
            "http://127.0.0.1:8080/run?runs=1"
        );
        assert_eq!(
            run_url("https://x.herokuapp.com/run", Some("chase-l2"))
                .unwrap()
                .url,
            "https://x.herokuapp.com/run?runs=1&workload=chase-l2"
        );
        assert!(
            run_url("x.herokuapp.com", None)
                .unwrap_err()
                .to_string()
                .contains("http://")
        );
        assert!(
            run_url("http://h", Some("nope"))
                .unwrap_err()
                .to_string()
                .contains("chase-l2")
        );
        assert_eq!(
            run_url("http://[::1]:8080", None).unwrap().url,
            "http://[::1]:8080/run?runs=1"
        );
        for (bad, says) in [
            ("http://127.0.0.1:99999", "port 99999 is not a port number"),
            ("http://127.0.0.1:0", "port 0"),
            ("http://h:x", "port x"),
            ("http://h/run?runs=5", "without a ?query"),
            ("http://h#top", "without a ?query"),
            ("http://", "has no host"),
            ("http://:80", "has no host"),
            ("ftp://h", "http://"),
            ("http://u:hunter2@h:0", "'http://h:0': port 0"),
        ] {
            let error = run_url(bad, None).unwrap_err().to_string();
            assert!(error.contains(says), "{bad}: {error}");
            assert!(!error.contains("hunter2"), "{error}");
        }
        let target = run_url("http://admin:hunter2@h:8080", None).unwrap();
        assert_eq!(target.url, "http://h:8080/run?runs=1");
        assert!(
            target
                .credentials
                .is_some_and(|c| c.basic().starts_with("Basic "))
        );
    }

    #[test]
    fn a_servers_names_lose_their_control_bytes() {
        let hostile = ANSWER.replace("chase-l2", "chase\\u001b[31m-l2").replacen(
            '{',
            r#"{"instance": "\u001b]0;owned\u0007web\r.1", "#,
            1,
        );
        let served = Call::from_answer(0, 2_000, &hostile, None).unwrap();
        assert_eq!(served.workload, "chase\\u{1b}[31m-l2");
        assert_eq!(
            served.call.instance.as_deref(),
            Some("\\u{1b}]0;owned\\u{7}web\\r.1")
        );
        assert_eq!(printable("web.1 ü"), "web.1 ü");
    }
}
