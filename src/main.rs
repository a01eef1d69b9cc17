//! The composition root: parse the command line, load the configuration, start handoff,
//! stop it gracefully on SIGTERM / Ctrl-C.

use clap::{Parser, Subcommand};
use handoff::config::Config;
use std::path::PathBuf;
use std::process::ExitCode;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,actix_server=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("handoff: {e}");
            return ExitCode::from(2);
        }
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => runtime.block_on(serve(config)),
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
