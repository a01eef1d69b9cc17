//! The composition root: parse the command line, load the configuration, start handoff,
//! stop it gracefully on SIGTERM / Ctrl-C.

use clap::{Parser, Subcommand};
use handoff::config::Config;
use handoff::local_client;
use std::path::PathBuf;
use std::process::ExitCode;

/// See Cargo.toml: sled's node copies make the allocator a hot path.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(version, about = "A durable bot-to-human handoff for HubSpot")]
struct Cli {
    /// TOML configuration file (values from HANDOFF_* environment variables win over it).
    #[arg(long, global = true, env = "HANDOFF_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Validate the configuration and, when HubSpot credentials are set, check them at
    /// HubSpot's token endpoint.
    Check,
    /// Exit 0 when the server on this machine answers `/healthz` (for Docker and systemd).
    Healthcheck,
    /// Save a consistent copy of the running server's store into DIR.
    Backup { dir: PathBuf },
    /// Restore a backup into the (empty) data directory; handoff must be stopped.
    Restore { file: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("handoff: {e}");
            return ExitCode::from(2);
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,actix_server=warn".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colours only on a terminal, not in journald or a log file.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match config.log.format {
        handoff::config::LogFormat::Text => logs.init(),
        // One JSON object per line, for log shippers.
        handoff::config::LogFormat::Json => logs.json().flatten_event(true).init(),
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => runtime.block_on(serve(config)),
        Command::Check => runtime.block_on(check(config)),
        Command::Healthcheck => runtime.block_on(healthcheck(config)),
        Command::Backup { dir } => runtime.block_on(backup(config, dir)),
        Command::Restore { file } => match handoff::store::backup::restore(&file, &config.data_dir)
        {
            Ok(()) => {
                println!(
                    "restored {} into {}",
                    file.display(),
                    config.data_dir.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("handoff: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

async fn backup(config: Config, dir: PathBuf) -> ExitCode {
    let token_path = handoff::store::backup::token_path(&config.data_dir);
    let token = match std::fs::read_to_string(&token_path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!(
                "handoff: cannot read {} ({e}); run as the user handoff runs as, with the same data_dir",
                token_path.display()
            );
            return ExitCode::FAILURE;
        }
    };
    // The server answers backups only over loopback.
    let Some(base) = local_client::loopback_base(&config) else {
        eprintln!(
            "handoff: the server listens on {}, which this machine cannot reach over loopback; \
             backups need `listen` to be a wildcard (0.0.0.0, [::]) or loopback address",
            config.listen
        );
        return ExitCode::FAILURE;
    };
    let http = match local_client::client(&config, std::time::Duration::from_secs(600)) {
        Ok(http) => http,
        Err(e) => {
            eprintln!("handoff: {e}");
            return ExitCode::FAILURE;
        }
    };
    let url = format!("{base}/admin/backup");
    let mut answer = match http.get(&url).bearer_auth(token.trim()).send().await {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => {
            eprintln!("handoff: {url} answered {}", r.status());
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("handoff: {url} cannot be reached; is handoff running? ({e:#})");
            return ExitCode::FAILURE;
        }
    };
    let file = dir.join(format!(
        "handoff-backup-{}.bin",
        chrono::Utc::now().format("%Y%m%d-%H%M%S")
    ));
    // Written as it arrives, under a temporary name until it is complete.
    let partial = file.with_extension("bin.partial");
    let mut out = match std::fs::create_dir_all(&dir)
        .and_then(|()| handoff::store::backup::private_file(&partial))
    {
        Ok(f) => std::io::BufWriter::new(f),
        Err(e) => {
            eprintln!("handoff: cannot write {}: {e}", partial.display());
            return ExitCode::FAILURE;
        }
    };
    let mut bytes = 0u64;
    let failed = loop {
        match answer.chunk().await {
            Ok(Some(chunk)) => {
                bytes += chunk.len() as u64;
                if let Err(e) = std::io::Write::write_all(&mut out, &chunk) {
                    break Some(format!("cannot write {}: {e}", partial.display()));
                }
            }
            Ok(None) => break None,
            Err(e) => break Some(format!("the backup broke off: {e}")),
        }
    };
    let finished = match failed {
        Some(e) => Err(e),
        None => out
            .into_inner()
            .map_err(|e| e.into_error())
            .and_then(|f| f.sync_all())
            .and_then(|()| std::fs::rename(&partial, &file))
            .map_err(|e| format!("cannot write {}: {e}", file.display())),
    };
    if let Err(e) = finished {
        let _ = std::fs::remove_file(&partial);
        eprintln!("handoff: {e}");
        return ExitCode::FAILURE;
    }
    println!("{} ({bytes} bytes)", file.display());
    ExitCode::SUCCESS
}

async fn check(config: Config) -> ExitCode {
    println!("configuration: valid");
    println!(
        "  listen {}, public URL {}, data in {}",
        config.listen,
        config.public_base(),
        config.data_dir.display()
    );
    if let Err(e) = handoff::tls::server_config(&config.tls) {
        println!("  HTTPS: {e}");
        return ExitCode::FAILURE;
    }
    println!(
        "  HTTPS: {}",
        if config.tls.cert.is_some() {
            "certificate and key match"
        } else {
            "off"
        }
    );
    let h = &config.hubspot;
    let (Some(client_id), Some(secret), Some(token)) =
        (&h.client_id, &h.client_secret, &h.refresh_token)
    else {
        println!(
            "  HubSpot: no client id, secret and refresh token in the configuration; nothing to check (the wizard can set them)"
        );
        return ExitCode::SUCCESS;
    };
    let http = handoff::http_client::http_client(h.timeout);
    match handoff::hubspot::oauth::check_refresh_token(&http, &h.api_base, client_id, secret, token)
        .await
    {
        Ok(portal) => {
            println!(
                "  HubSpot: the token endpoint accepted the credentials (portal {})",
                portal.map_or("?".into(), |p| p.to_string())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("  HubSpot: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn healthcheck(config: Config) -> ExitCode {
    let url = format!("{}/healthz", config.local_base());
    let http = match local_client::client(&config, std::time::Duration::from_secs(5)) {
        Ok(http) => http,
        Err(e) => {
            eprintln!("handoff: {e}");
            return ExitCode::FAILURE;
        }
    };
    match http.get(&url).send().await {
        Ok(r) if r.status().is_success() => ExitCode::SUCCESS,
        Ok(r) => {
            eprintln!("handoff: {url} answered {}", r.status());
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!(
                "handoff: {url}: {}",
                std::error::Error::source(&e)
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| e.to_string())
            );
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> ExitCode {
    let listener = match std::net::TcpListener::bind(config.listen_addr()) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("handoff: cannot listen on {}: {e}", config.listen);
            return ExitCode::FAILURE;
        }
    };
    let running = match handoff::app::start(config, listener).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("handoff: {e}");
            return ExitCode::FAILURE;
        }
    };
    let handle = running.handle();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        handle.stop(true).await;
    });
    match running.wait().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("handoff: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
