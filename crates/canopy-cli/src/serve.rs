//! `canopy serve` (the HTTP server of `canopy-server`) and `canopy token` (its access tokens).
//!
//! Both default to the embedded store `./canopy-data` when neither `--root` nor
//! `$CANOPY_ROOT` is given; `serve` creates it if it is missing.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use canopy::Repo;
use canopy_server::tokens::{TokenError, TokenStore};
use canopy_server::{Limits, ServeOptions};
use clap::{Args, Subcommand};

use crate::commands::{Failure, Outcome};
use crate::output;

/// The store `serve` and `token` use without `--root` or `$CANOPY_ROOT`.
const DEFAULT_STORE: &str = "canopy-data";

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (HOST:PORT). A non-loopback address needs a token, or
    /// --allow-anonymous.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "HOST:PORT")]
    addr: String,
    /// Allow everything to everyone while no token is defined, even on a non-loopback address.
    #[arg(long)]
    allow_anonymous: bool,
    /// Largest request body in bytes other than a value's (413 beyond).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_body_bytes)]
    max_body: usize,
    /// Largest value a PUT may store, in bytes (413 beyond); large values are streamed through
    /// a temporary file, so this bounds disk use, not memory.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_value_bytes)]
    max_value: u64,
    /// Seconds a client has to send a request's headers.
    #[arg(long, value_name = "SECONDS", default_value_t = Limits::default().header_read_timeout.as_secs())]
    header_timeout: u64,
    /// Seconds a request (its body included) may take (408 beyond).
    #[arg(long, value_name = "SECONDS", default_value_t = Limits::default().request_timeout.as_secs())]
    request_timeout: u64,
    /// Requests handled at once (503 beyond).
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_concurrent_requests)]
    max_requests: usize,
    /// Open connections (more wait to be accepted).
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_connections)]
    max_connections: usize,
    /// Open watch streams (503 beyond).
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_watch_connections)]
    max_watches: usize,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token and print it (once: only its hash is kept).
    Create {
        name: String,
        /// Branches the token may read (globs: '*' matches anything, '/' included).
        #[arg(long, num_args = 1.., value_name = "GLOB")]
        read: Vec<String>,
        /// Branches the token may write (and so read).
        #[arg(long, num_args = 1.., value_name = "GLOB")]
        write: Vec<String>,
    },
    /// List tokens with their rights.
    List,
    /// Delete a token; requests presenting it are refused from now on.
    Revoke { name: String },
}

fn root_or_default(root: Option<PathBuf>) -> PathBuf {
    root.unwrap_or_else(|| PathBuf::from(DEFAULT_STORE))
}

pub(crate) fn serve(root: Option<PathBuf>, args: &ServeArgs) -> Outcome {
    let addr = parse_addr(&args.addr)?;
    let default = root.is_none();
    let root = root_or_default(root);
    let repo = if default && !root.exists() {
        let repo = Repo::init(&root)?;
        eprintln!("canopy: created the store {}", root.display());
        repo
    } else {
        Repo::open(&root)?
    };
    let limits = Limits {
        max_body_bytes: args.max_body,
        max_value_bytes: args.max_value,
        header_read_timeout: Duration::from_secs(args.header_timeout.max(1)),
        request_timeout: Duration::from_secs(args.request_timeout.max(1)),
        max_concurrent_requests: args.max_requests.max(1),
        max_connections: args.max_connections.max(1),
        max_watch_connections: args.max_watches.max(1),
        ..Limits::default()
    };
    let opts = ServeOptions {
        repo,
        addr,
        allow_anonymous: args.allow_anonymous,
        limits,
    };
    let store = root.display().to_string();
    canopy_server::serve_blocking(opts, |bound| {
        println!("canopy: serving {store} on http://{bound}/ (API: http://{bound}/api/v1/openapi.json)");
    })
    .map_err(|e| match e {
        canopy_server::ServeError::AnonymousRefused(_) => Failure::usage(e.to_string()),
        other => Failure {
            code: 3,
            message: other.to_string(),
        },
    })?;
    Ok(0)
}

fn parse_addr(addr: &str) -> Result<SocketAddr, Failure> {
    if let Ok(a) = addr.parse() {
        return Ok(a);
    }
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| Failure::usage(format!("invalid address '{addr}': expected HOST:PORT")))
}

pub(crate) fn token(root: Option<PathBuf>, json_out: bool, cmd: TokenCommand) -> Outcome {
    let repo = Repo::open(root_or_default(root))?;
    let tokens = TokenStore::for_repo(&repo);
    match cmd {
        TokenCommand::Create { name, read, write } => {
            if read.is_empty() && write.is_empty() {
                return Err(Failure::usage("give at least one --read or --write GLOB"));
            }
            let secret = tokens.create(&name, &read, &write).map_err(token_failure)?;
            if json_out {
                output::json(&canopy_wire::local::TokenCreated {
                    name: name.clone(),
                    token: secret,
                });
            } else {
                println!("{secret}");
                eprintln!("canopy: token '{name}' created; this is the only time it is shown");
            }
        }
        TokenCommand::List => {
            let list = tokens.list().map_err(token_failure)?;
            if json_out {
                output::json(&*list);
            } else {
                for t in list.iter() {
                    println!(
                        "{}\tread={}\twrite={}",
                        t.name,
                        t.read.join(","),
                        t.write.join(",")
                    );
                }
            }
        }
        TokenCommand::Revoke { name } => {
            tokens.revoke(&name).map_err(token_failure)?;
            eprintln!("canopy: token '{name}' revoked");
        }
    }
    Ok(0)
}

fn token_failure(e: TokenError) -> Failure {
    match e {
        TokenError::NoSuchToken(_) => Failure::no(e.to_string()),
        TokenError::Storage(_) | TokenError::Random(_) => Failure {
            code: 3,
            message: e.to_string(),
        },
        _ => Failure::usage(e.to_string()),
    }
}
