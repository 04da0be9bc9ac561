//! Remotes reached through `ssh`, run as Git runs it (`man git`, `GIT_SSH_COMMAND`; `man
//! git-config`, `core.sshCommand` and `ssh.variant`):
//!
//! - the program: `$GIT_SSH_COMMAND`, else `core.sshCommand` (both shell commands, run as
//!   `sh -c 'CMD "$@"' CMD ARGS…`), else `$GIT_SSH` (a program), else `ssh`;
//! - its options by variant (`$GIT_SSH_VARIANT`, `ssh.variant`, else the program's name):
//!   OpenSSH gets `-o SendEnv=GIT_PROTOCOL` when asking for protocol v2 and `-p PORT`; plink and
//!   putty `-P PORT` (TortoisePlink also `-batch`); `simple` gets no option and cannot set a port;
//! - then `[user@]host`, then the remote command: `git-upload-pack '<path>'` (or
//!   `remote.<name>.uploadpack`/`receivepack`), the path quoted as Git quotes it.
//!
//! `GIT_PROTOCOL=version=2` is set in the program's environment for v2. An sshd that does not
//! accept the variable (OpenSSH's default configuration has no `AcceptEnv GIT_PROTOCOL`)
//! starts the server in v0, which Canopy's fetch does not speak; the connection is then tried
//! once more with the variable in the remote command (`GIT_PROTOCOL=version=2 git-upload-pack
//! '…'`), which a login shell honours (`git-shell` refuses it, and the first error stands).
//!
//! The URL was checked before (see [`super::url`]): neither the host nor the path can pass for
//! an option.

use std::path::Path;
use std::process::{Command, Stdio};

use super::connect::{Conn, Connector, Process};
use super::url::shell_quote;
use super::Service;
use crate::sync::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Ssh,
    Plink,
    Putty,
    TortoisePlink,
    Simple,
}

impl Variant {
    fn named(name: &str) -> Option<Variant> {
        Some(match name.to_ascii_lowercase().as_str() {
            "ssh" | "auto" => Variant::Ssh,
            "plink" => Variant::Plink,
            "putty" => Variant::Putty,
            "tortoiseplink" => Variant::TortoisePlink,
            "simple" => Variant::Simple,
            _ => return None,
        })
    }

    /// Git's guess from the program's name; programs it does not know are taken to be
    /// OpenSSH-compatible (set `ssh.variant = simple` otherwise).
    fn guess(program: &str) -> Variant {
        let base = Path::new(program)
            .file_name()
            .map(|b| b.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let base = base.strip_suffix(".exe").unwrap_or(&base);
        match base {
            "plink" => Variant::Plink,
            "tortoiseplink" => Variant::TortoisePlink,
            "putty" => Variant::Putty,
            _ => Variant::Ssh,
        }
    }
}

/// How `ssh` is started.
#[derive(Debug, Clone)]
enum Program {
    /// A shell command (`GIT_SSH_COMMAND`, `core.sshCommand`).
    Shell(String),
    /// A program path (`GIT_SSH`, `ssh`).
    Exec(String),
}

/// The settings an ssh remote uses.
#[derive(Debug, Clone, Default)]
pub(crate) struct SshSettings {
    pub core_ssh_command: Option<String>,
    pub variant: Option<String>,
    pub upload_pack: Option<String>,
    pub receive_pack: Option<String>,
}

/// A remote repository behind `ssh`.
pub(crate) struct SshConnector {
    url: String,
    host: String,
    port: Option<u16>,
    path: String,
    program: Program,
    variant: Variant,
    upload_pack: String,
    receive_pack: String,
    /// Ask for v2 in the remote command too (the sshd dropped `GIT_PROTOCOL`).
    inline_protocol: bool,
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl SshConnector {
    pub fn new(
        url: &str,
        host: String,
        port: Option<u16>,
        path: String,
        settings: SshSettings,
    ) -> Result<SshConnector> {
        let program = if let Some(c) = env_nonempty("GIT_SSH_COMMAND") {
            Program::Shell(c)
        } else if let Some(c) = settings.core_ssh_command.filter(|c| !c.is_empty()) {
            Program::Shell(c)
        } else if let Some(p) = env_nonempty("GIT_SSH") {
            Program::Exec(p)
        } else {
            Program::Exec("ssh".into())
        };
        let named = env_nonempty("GIT_SSH_VARIANT").or(settings.variant);
        let variant = match named {
            Some(v) => Variant::named(&v)
                .ok_or_else(|| Error::Refused(format!("unknown value '{v}' for ssh.variant")))?,
            None => Variant::guess(match &program {
                Program::Shell(c) => c.split_whitespace().next().unwrap_or(""),
                Program::Exec(p) => p,
            }),
        };
        if variant == Variant::Simple && port.is_some() {
            return Err(Error::Refused(format!(
                "{url}: ssh variant 'simple' does not support setting a port"
            )));
        }
        Ok(SshConnector {
            url: url.to_string(),
            host,
            port,
            path,
            program,
            variant,
            upload_pack: settings.upload_pack.unwrap_or_else(|| "git-upload-pack".into()),
            receive_pack: settings.receive_pack.unwrap_or_else(|| "git-receive-pack".into()),
            inline_protocol: false,
        })
    }

    /// The arguments after the program: options, host, remote command.
    fn args(&self, service: Service, v2: bool) -> Vec<String> {
        let mut args = Vec::new();
        match self.variant {
            Variant::Ssh => {
                if v2 {
                    args.extend(["-o".to_string(), "SendEnv=GIT_PROTOCOL".to_string()]);
                }
                if let Some(p) = self.port {
                    args.extend(["-p".to_string(), p.to_string()]);
                }
            }
            Variant::Plink | Variant::Putty | Variant::TortoisePlink => {
                if self.variant == Variant::TortoisePlink {
                    args.push("-batch".into());
                }
                if let Some(p) = self.port {
                    args.extend(["-P".to_string(), p.to_string()]);
                }
            }
            Variant::Simple => {}
        }
        args.push(self.host.clone());
        let program = match service {
            Service::UploadPack => &self.upload_pack,
            Service::ReceivePack => &self.receive_pack,
        };
        let prefix = if v2 && self.inline_protocol {
            "GIT_PROTOCOL=version=2 "
        } else {
            ""
        };
        args.push(format!("{prefix}{program} {}", shell_quote(&self.path)));
        args
    }

    fn command(&self, service: Service, v2: bool) -> Command {
        let args = self.args(service, v2);
        let mut cmd = match &self.program {
            Program::Shell(c) => {
                let mut cmd = Command::new("sh");
                cmd.arg("-c").arg(format!("{c} \"$@\"")).arg(c);
                cmd
            }
            Program::Exec(p) => Command::new(p),
        };
        cmd.args(args);
        if v2 {
            cmd.env("GIT_PROTOCOL", "version=2");
        } else {
            cmd.env_remove("GIT_PROTOCOL");
        }
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn program_name(&self) -> &str {
        match &self.program {
            Program::Shell(c) => c,
            Program::Exec(p) => p,
        }
    }
}

impl Connector for SshConnector {
    fn url(&self) -> &str {
        &self.url
    }

    fn ask_v2_otherwise(&mut self) -> bool {
        !std::mem::replace(&mut self.inline_protocol, true)
    }

    fn connect(&mut self, service: Service, v2: bool) -> Result<Conn> {
        let mut child = self.command(service, v2).spawn().map_err(|e| Error::Transport {
            url: self.url.clone(),
            message: format!("cannot run '{}': {e}", self.program_name()),
        })?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            return Err(Error::Transport {
                url: self.url.clone(),
                message: "ssh has no pipes".into(),
            });
        };
        Ok(Conn {
            reader: Box::new(stdout),
            writer: Box::new(stdin),
            process: Some(Process::new(child, "ssh".into())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connector(variant: &str, port: Option<u16>, path: &str) -> SshConnector {
        SshConnector {
            url: "u".into(),
            host: "me@h".into(),
            port,
            path: path.into(),
            program: Program::Exec("ssh".into()),
            variant: Variant::named(variant).unwrap(),
            upload_pack: "git-upload-pack".into(),
            receive_pack: "/opt/git/bin/git-receive-pack".into(),
            inline_protocol: false,
        }
    }

    #[test]
    fn arguments_are_gits() {
        let c = connector("ssh", Some(2222), "/srv/it's.git");
        assert_eq!(
            c.args(Service::UploadPack, true),
            [
                "-o",
                "SendEnv=GIT_PROTOCOL",
                "-p",
                "2222",
                "me@h",
                r"git-upload-pack '/srv/it'\''s.git'"
            ]
        );
        let c = connector("plink", Some(22), "~/r");
        assert_eq!(
            c.args(Service::ReceivePack, false),
            ["-P", "22", "me@h", "/opt/git/bin/git-receive-pack '~/r'"]
        );
        assert_eq!(Variant::guess("/usr/bin/plink.exe"), Variant::Plink);
        assert_eq!(Variant::guess("ssh"), Variant::Ssh);
    }
}
