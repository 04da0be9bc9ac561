//! `canopy-xenstored`: the xenstore daemon over a Canopy store.

use std::path::PathBuf;
use std::process::ExitCode;

use canopy_xenstored::{Config, Daemon};

const USAGE: &str = "usage: canopy-xenstored [--root DIR] [--branch NAME] [--socket PATH]

  --root DIR      the store (created if missing; default ./xenstore-data)
  --branch NAME   the branch holding the nodes (default main)
  --socket PATH   the Unix socket to listen on (default $XENSTORED_PATH, else
                  $XENSTORED_RUNDIR/socket, else /var/run/xenstored/socket: where
                  libxenstore and pyxs look)";

fn default_socket() -> PathBuf {
    if let Some(p) = std::env::var_os("XENSTORED_PATH") {
        return PathBuf::from(p);
    }
    let rundir = std::env::var_os("XENSTORED_RUNDIR")
        .map_or_else(|| PathBuf::from("/var/run/xenstored"), PathBuf::from);
    rundir.join("socket")
}

fn parse_args() -> Result<Config, String> {
    let mut config = Config {
        root: PathBuf::from("xenstore-data"),
        branch: "main".into(),
        socket: default_socket(),
    };
    let mut args = std::env::args_os().skip(1);
    while let Some(arg) = args.next() {
        let arg = arg.to_string_lossy().into_owned();
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--root" => config.root = PathBuf::from(value("--root")?),
            "--branch" => config.branch = value("--branch")?.to_string_lossy().into_owned(),
            "--socket" => config.socket = PathBuf::from(value("--socket")?),
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    Ok(config)
}

fn main() -> ExitCode {
    let config = match parse_args() {
        Ok(c) => c,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("canopy-xenstored: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match Daemon::bind(&config) {
        Ok(daemon) => {
            eprintln!(
                "canopy-xenstored: serving {} (branch {}) on {}",
                config.root.display(),
                config.branch,
                daemon.socket().display()
            );
            daemon.run();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("canopy-xenstored: {e}");
            ExitCode::FAILURE
        }
    }
}
