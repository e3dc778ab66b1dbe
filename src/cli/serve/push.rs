//! `serve --push URL`: the `/metrics` text PUT to a Prometheus Pushgateway every interval,
//! for fleets a scraper cannot reach one by one (dynos behind a router).

use std::time::Duration;

use anyhow::{Context, bail};
use axum::body::Body;
use axum::http::{Method, Request, Uri, header};
use hyper_util::rt::TokioIo;

/// The longest one push may take, connection included.
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);

/// Where and how often to push.
#[derive(Debug, Clone)]
pub struct Push {
    /// `http://HOST:PORT/metrics/job/dynoprobe/instance/NAME`, without credentials.
    pub url: Uri,
    pub every: Duration,
    /// `Basic …`, from the URL's `user:password@` (a Pushgateway behind basic auth); kept
    /// out of the URL, which is printed.
    authorization: Option<String>,
}

impl Push {
    /// The group URL for `gateway` (`http://host:port`, optionally with a path prefix) and
    /// `instance`; an error names what is wrong with `gateway`.
    pub fn new(gateway: &str, instance: &str, every: Duration) -> anyhow::Result<Push> {
        let (base, credentials) = dynoprobe::credentials::split(gateway.trim());
        let base = base.trim_end_matches('/');
        if !base.starts_with("http://") {
            bail!(
                "--push {base}: expected an http:// URL of a Pushgateway (no https: see the README)"
            );
        }
        let url: Uri = format!(
            "{base}/metrics/job/dynoprobe/instance/{}",
            path_segment(instance)
        )
        .parse()
        .with_context(|| format!("--push {base}: not a URL"))?;
        if url.host().is_none() {
            bail!("--push {base}: no host");
        }
        Ok(Push {
            url,
            every,
            authorization: credentials.map(|c| c.basic()),
        })
    }
}

/// `name` as one URL path segment: anything but unreserved characters percent-encoded.
fn path_segment(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Pushes `render()` every `push.every`, forever (the server's runtime ends it): plain HTTP
/// (see the README for why), one connection per push, each bounded by [`PUSH_TIMEOUT`]; a
/// failure is said once, and again only after the pushes have worked in between.
pub async fn pushing(push: Push, render: impl Fn() -> String) {
    let mut every = tokio::time::interval(push.every);
    let mut failing = false;
    loop {
        every.tick().await;
        let pushed = put(&push.url, push.authorization.as_deref(), render());
        match tokio::time::timeout(PUSH_TIMEOUT, pushed).await {
            Ok(Ok(())) => {
                if failing {
                    eprintln!("dynoprobe serve: pushing to {} works again", push.url);
                }
                failing = false;
            }
            failure => {
                if !failing {
                    let why = match failure {
                        Ok(Err(error)) => format!("{error:#}"),
                        _ => format!("no answer in {} s", PUSH_TIMEOUT.as_secs()),
                    };
                    eprintln!("dynoprobe serve: pushing to {} failed: {why}", push.url);
                }
                failing = true;
            }
        }
    }
}

/// One `PUT` of `text` to `url`, over a fresh connection.
async fn put(url: &Uri, authorization: Option<&str>, text: String) -> anyhow::Result<()> {
    let host = url.host().context("no host")?;
    let port = url.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host, port))
        .await
        .with_context(|| format!("connecting to {host}:{port}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP handshake")?;
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(Method::PUT)
        .uri(url.path())
        .header(header::HOST, format!("{host}:{port}"))
        .header(header::CONTENT_TYPE, "text/plain; version=0.0.4");
    if let Some(authorization) = authorization {
        request = request.header(header::AUTHORIZATION, authorization);
    }
    let request = request.body(Body::from(text))?;
    let response = sender.send_request(request).await.context("sending")?;
    if !response.status().is_success() {
        bail!("the Pushgateway answered {}", response.status());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_url_names_the_job_and_the_instance() {
        let push = Push::new("http://pg:9091/", "web.1", Duration::from_secs(15)).unwrap();
        assert_eq!(
            push.url.to_string(),
            "http://pg:9091/metrics/job/dynoprobe/instance/web.1"
        );
        let odd = Push::new("http://pg:9091/prefix", "a b/c", Duration::from_secs(1)).unwrap();
        assert_eq!(
            odd.url.path(),
            "/prefix/metrics/job/dynoprobe/instance/a%20b%2Fc"
        );
        // Credentials leave the URL, which is printed, and are sent as Basic authorization.
        let guarded =
            Push::new("http://u:hunter2@pg:9091", "web.1", Duration::from_secs(1)).unwrap();
        assert_eq!(guarded.url.authority().unwrap().as_str(), "pg:9091");
        assert_eq!(guarded.authorization.as_deref(), Some("Basic dTpodW50ZXIy"));
        for bad in ["https://pg", "pg:9091", "http://"] {
            assert!(
                Push::new(bad, "x", Duration::from_secs(1)).is_err(),
                "{bad}"
            );
        }
    }
}
