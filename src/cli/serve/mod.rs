//! `dynoprobe serve`: the benchmark server for a dyno, which runs a workload batch per request
//! (`/run`), shows what a background probe sees (`/probe`) and exports both as Prometheus
//! metrics (`/metrics`), every request behind the queue-time layer.

mod bench;
mod guard;
mod listen;
mod push;
mod routes;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::get;
use dynoprobe::QueueTimeLayer;
use dynoprobe::prometheus::{self, instance_name};
use dynoprobe::workload::Inputs;

use self::bench::Bench;
use self::guard::{authorize, limits};
use self::routes::{
    App, busy, healthz, method_not_allowed, metrics, no_batch, not_found, probe, run,
};
use super::parse;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on [default: 0.0.0.0 when $PORT is set, else 127.0.0.1].
    #[arg(long, value_name = "IP")]
    bind: Option<std::net::IpAddr>,
    /// Port to listen on [default: $PORT, else 8080]; 0 picks a free port.
    #[arg(long, value_name = "N")]
    port: Option<u16>,
    /// Time between the background probe's samples (10ms to 1h).
    #[arg(long, short = 'i', value_name = "DURATION", default_value = "1s", value_parser = parse::parse_interval)]
    interval: std::time::Duration,
    /// Do not measure the probe's sleep overshoot (it wakes ten times a second for it).
    #[arg(long)]
    no_sleep_jitter: bool,
    /// The name every /run answer gives this instance [default: $DYNO, else $HOSTNAME, else
    /// the host name], so that drive can tell instances apart behind a router.
    #[arg(long, value_name = "NAME")]
    instance: Option<String>,
    /// A secret that /run and /probe then require as `Authorization: Bearer TOKEN` (401
    /// without it); /healthz and /metrics stay open [default: $DYNOPROBE_TOKEN]. Without one,
    /// anyone who can reach the server can make it burn a CPU.
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// The longest a batch may run; it then answers with the runs done and says it was cut
    /// short. Under a PaaS router's timeout (30 s on Heroku), so the answer still arrives.
    #[arg(long, value_name = "DURATION", default_value = "25s", value_parser = parse::parse_budget)]
    batch_budget: Duration,
    /// The furthest from now a request's X-Request-Start may lie and still be taken as a
    /// queue time (or a clock skew); further is counted invalid and not recorded. Set it to
    /// the router's timeout (30s on Heroku) so that no header can add more than that.
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = parse::parse_queue_window)]
    queue_window: Duration,
    /// Also push the metrics to a Prometheus Pushgateway at URL (http://HOST:PORT), as job
    /// dynoprobe and this instance, for a fleet that cannot be scraped one by one.
    #[arg(long, value_name = "URL")]
    push: Option<String>,
    /// Time between pushes.
    #[arg(long, value_name = "DURATION", default_value = "15s", value_parser = parse::parse_interval, requires = "push")]
    push_interval: Duration,
}

/// Serves until SIGTERM or Ctrl-C. One batch runs at a time, on one thread that owns the
/// prepared workloads ([`bench`]), so batches are alike and freed memory is reused; a
/// request that finds it busy gets `429` with `Retry-After`, since two batches on one dyno
/// would measure each other. Left running in public: with a token set, `/run` and `/probe`
/// need it; a batch stops at its time budget, when its client leaves, or on SIGTERM, and
/// answers with what it measured; connections are served by [`listen`] with timeouts and a
/// limit; every 4xx body is JSON.
pub fn serve(args: ServeArgs) -> anyhow::Result<()> {
    one_malloc_arena();
    let address = address(args.bind, args.port, std::env::var("PORT").ok())?;
    let token = parse::given_token(args.token.clone())?;
    let instance = args
        .instance
        .clone()
        .or_else(|| instance_name(|key| std::env::var(key).ok()));
    let push = pusher(&args, instance.as_deref())?;
    let metrics = prometheus::Builder::default()
        .instance(instance.clone())
        .interval(args.interval)
        .sleep_jitter(!args.no_sleep_jitter)
        .install()?;
    let app = App {
        bench: Arc::new(Bench::spawn(
            Inputs::shipped(),
            instance,
            args.batch_budget,
        )?),
        metrics,
        token: token.map(Arc::from),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("cannot listen on {address}"))?;
        announce(listener.local_addr()?, app.token.is_some());
        if let Some(push) = push {
            eprintln!(
                "dynoprobe serve: pushing the metrics to {} every {:?}",
                push.url, push.every
            );
            let metrics = app.metrics.clone();
            tokio::spawn(push::pushing(push, move || metrics.render()));
        }
        let stopping = app.bench.stopping.clone();
        let shutdown = async move {
            shutdown().await;
            stopping.store(true, Ordering::Relaxed);
        };
        listen::serve(
            listener,
            router(app, args.queue_window),
            overflow(),
            shutdown,
        )
        .await;
        Ok(())
    })
}

/// The Pushgateway client `--push` asks for, which names this instance.
fn pusher(args: &ServeArgs, instance: Option<&str>) -> anyhow::Result<Option<push::Push>> {
    match (&args.push, instance) {
        (None, _) => Ok(None),
        (Some(gateway), Some(name)) => {
            Ok(Some(push::Push::new(gateway, name, args.push_interval)?))
        }
        (Some(_), None) => {
            anyhow::bail!("--push needs this instance's name: set --instance, DYNO or HOSTNAME")
        }
    }
}

/// Says where the server listens, and warns when anyone who can reach it may run batches.
fn announce(local: std::net::SocketAddr, has_token: bool) {
    eprintln!(
        "dynoprobe serve: listening on http://{local} (routes /run /probe /metrics /healthz)"
    );
    if !has_token && !local.ip().is_loopback() {
        eprintln!(
            "dynoprobe serve: warning: {} is reachable from other machines and no token \
             is set: anyone can run batches. Set DYNOPROBE_TOKEN (or --token).",
            local.ip()
        );
    }
}

/// The routes, behind the queue-time layer (believing starts up to `queue_window` away), the
/// token check (outside it, so that only a request that may be measured is) and the request
/// limits.
fn router(app: App, queue_window: Duration) -> Router {
    let authorize = middleware::from_fn_with_state(app.clone(), authorize);
    Router::new()
        .route("/run", get(run).head(no_batch))
        .route("/probe", get(probe))
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
        .layer(QueueTimeLayer::new().window(queue_window))
        .layer(authorize)
        .layer(middleware::from_fn(limits))
}

/// What a connection beyond [`listen::MAX_CONNECTIONS`] is answered: `/healthz` as usual
/// (the server is alive, and a platform that restarts a dyno failing its health check must
/// not restart it for being popular), everything else `503` with `Retry-After`.
fn overflow() -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .fallback(|| async {
            busy(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!(
                    "busy: {} connections are open, the most this server serves; retry later",
                    listen::MAX_CONNECTIONS
                ),
            )
        })
}

/// Where to listen: `--bind`/`--port` first; then `0.0.0.0:$PORT` (a Heroku web process);
/// else `127.0.0.1:8080`, reachable only from this machine.
pub fn address(
    bind: Option<IpAddr>,
    port: Option<u16>,
    env_port: Option<String>,
) -> anyhow::Result<SocketAddr> {
    let env_port = env_port
        .map(|text| {
            text.trim()
                .parse::<u16>()
                .map_err(|_| anyhow::anyhow!("PORT={text:?} is not a port number (0 to 65535)"))
        })
        .transpose()?;
    let any = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let default_host = if env_port.is_some() {
        any
    } else {
        Ipv4Addr::LOCALHOST.into()
    };
    Ok(SocketAddr::new(
        bind.unwrap_or(default_host),
        port.or(env_port).unwrap_or(8080),
    ))
}

/// glibc gives each thread that allocates an arena of its own, with 64 MB of address space
/// reserved apiece: under a limit on address space (`ulimit -v 200000`) the server died in
/// its first batch ("memory allocation of 4 bytes failed", SIGABRT) while holding far less
/// than the limit. With one arena it does not. The server's threads allocate little but the
/// batch thread, so they lose nothing to sharing it.
///
/// And every block of 1 MiB or more is mapped apart and unmapped when freed. By default
/// glibc raises that threshold to the largest block freed (up to 32 MiB), after which a
/// workload's megabyte buffers land in the heap among other blocks, and a workload dropped
/// to make room gives no address space back: with room for chase-dram alone, chase-dram
/// was refused after the other workloads had run and been dropped. Called before any thread
/// starts.
fn one_malloc_arena() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters, and no other thread runs yet.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Resolves on Ctrl-C or SIGTERM (what Heroku sends before stopping a dyno).
async fn shutdown() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
    eprintln!("dynoprobe serve: stopping (a running batch ends after its current run)");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_follows_flags_then_port_then_loopback() {
        let a = |bind: Option<&str>, port, env: Option<&str>| {
            address(
                bind.map(|b| b.parse().unwrap()),
                port,
                env.map(String::from),
            )
            .map(|a| a.to_string())
        };
        assert_eq!(a(None, None, None).unwrap(), "127.0.0.1:8080");
        assert_eq!(a(None, None, Some("5000")).unwrap(), "0.0.0.0:5000");
        assert_eq!(a(None, Some(9000), Some("5000")).unwrap(), "0.0.0.0:9000");
        assert_eq!(
            a(Some("127.0.0.1"), None, Some("5000")).unwrap(),
            "127.0.0.1:5000"
        );
        assert_eq!(a(Some("::1"), Some(1), None).unwrap(), "[::1]:1");
        assert!(
            a(None, None, Some("http"))
                .unwrap_err()
                .to_string()
                .contains("PORT")
        );
    }
}
