//! Remotes like Git's: `canopy clone/fetch/pull/push/sync` over `ssh://`, scp-like
//! `host:path` and `git://`, against a real `sshd` (running `git-upload-pack`/`git-receive-pack`
//! of the machine's git) and a real `git daemon`, both started here on loopback; HTTP with
//! credentials from a Git credential helper, `http.extraHeader` and `url.<base>.insteadOf`.
//! A test whose server program is missing prints a notice and passes.

mod common;

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Run, Sandbox, Served};

const SSHD: &str = "/usr/sbin/sshd";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early: {status}");
        }
        assert!(Instant::now() < deadline, "{what} did not start listening");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A server process, killed when dropped.
struct Daemon {
    child: Child,
    port: u16,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `sshd` on a free loopback port accepting one generated key for the current user; the key's
/// `ssh` command goes into the sandbox's `~/.gitconfig` as `core.sshCommand` (with `-p PORT` if
/// `port_in_command`), which both `canopy` and `git` read.
fn start_sshd(sb: &Sandbox, port_in_command: bool, accept_env: bool) -> Option<(Daemon, String)> {
    if !Path::new(SSHD).exists() || Command::new("ssh-keygen").arg("-?").output().is_err() {
        eprintln!("notice: {SSHD} or ssh-keygen is missing (apt-get install openssh-server); skipping");
        return None;
    }
    let dir = sb.path("sshd");
    std::fs::create_dir_all(&dir).unwrap();
    for key in ["host", "client"] {
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(dir.join(key))
            .status()
            .unwrap();
        assert!(st.success());
    }
    std::fs::copy(dir.join("client.pub"), dir.join("authorized_keys")).unwrap();
    let root = whoami() == "root";
    if root {
        // The privilege separation directory the package's service would create.
        let _ = std::fs::create_dir_all("/run/sshd");
    }
    let port = free_port();
    let d = dir.display();
    let config =
        format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host\nAuthorizedKeysFile {d}/authorized_keys\n\
         StrictModes no\nUsePAM no\nPidFile {d}/sshd.pid\nPasswordAuthentication no\n\
         KbdInteractiveAuthentication no\nLogLevel ERROR\n{}{}",
        if root { "PermitRootLogin prohibit-password\n" } else { "" },
        if accept_env { "AcceptEnv GIT_PROTOCOL\n" } else { "" }
    );
    std::fs::write(dir.join("sshd_config"), config).unwrap();
    let mut child = Command::new(SSHD)
        .args(["-D", "-e", "-f"])
        .arg(dir.join("sshd_config"))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
        .spawn()
        .expect("sshd starts");
    wait_for_port(port, &mut child, "sshd");
    let mut ssh = format!(
        "ssh -i {d}/client -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
         -o BatchMode=yes -o LogLevel=ERROR"
    );
    if port_in_command {
        ssh.push_str(&format!(" -p {port}"));
    }
    let user = whoami();
    let top = sb.path("");
    sb.git_ok(&top, &["config", "--global", "core.sshCommand", &ssh]);
    Some((Daemon { child, port }, user))
}

fn start_git_daemon(base: &Path) -> Option<Daemon> {
    let ok = Command::new("git")
        .args(["daemon", "--help"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !ok {
        eprintln!("notice: git daemon is missing; skipping");
        return None;
    }
    let port = free_port();
    let mut child = Command::new("git")
        .args([
            "daemon",
            "--reuseaddr",
            "--export-all",
            "--enable=receive-pack",
            "--informative-errors",
            "--listen=127.0.0.1",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--base-path={}", base.display()))
        .arg(base)
        .env("HOME", base)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("git daemon starts");
    wait_for_port(port, &mut child, "git daemon");
    Some(Daemon { child, port })
}

/// The sync scenarios of `sync.rs` over `url`, which serves the bare repository `server`
/// (empty, with `main` as its HEAD): seeding push, clones, merges with counter/set drivers on
/// sync, a conflicting pull, a non-fast-forward push refused then forced, fetch, a shallow and a
/// blobless clone with a value fetched on demand. `git fsck --strict` on the server after each
/// push.
fn scenario(sb: &Sandbox, server: &Path, url: &str) {
    let top = sb.path("");
    let seed = sb.init_store("seed", "sha1");
    sb.canopy_ok(
        &seed,
        &[
            "set",
            ".gitattributes",
            "counter merge=counter\nmembers merge=set\n",
        ],
    );
    sb.canopy_ok(&seed, &["set", "counter", "100\n"]);
    sb.canopy_ok(&seed, &["set", "members", "ann\nbob\n"]);
    sb.canopy_ok(&seed, &["set", "notes", "1\n2\n3\n4\n5\n6\n"]);
    for i in 0..4 {
        sb.canopy_ok(&seed, &["set", "v", &format!("{i}")]);
    }
    sb.canopy_ok(&seed, &["remote", "add", "origin", url]);
    sb.canopy_ok(&seed, &["push", "-q"]);
    assert_eq!(sb.rev_parse(server, "main"), sb.rev_parse(&seed, "main"));
    sb.assert_fsck_clean(server);

    sb.canopy_ok(&top, &["clone", "-q", url, "a"]);
    sb.canopy_ok(&top, &["clone", "-q", url, "b"]);
    let (a, b) = (sb.path("a"), sb.path("b"));
    assert_eq!(sb.canopy_ok(&a, &["get", "counter"]), "100\n");
    assert!(sb.git_str(&a, &["remote", "-v"]).contains(url));

    sb.canopy_ok(&a, &["set", "counter", "101\n"]);
    sb.canopy_ok(&a, &["set", "members", "ann\nbob\ncid\n"]);
    sb.canopy_ok(&a, &["set", "notes", "one\n2\n3\n4\n5\n6\n"]);
    sb.canopy_ok(&b, &["set", "counter", "105\n"]);
    sb.canopy_ok(&b, &["set", "members", "bob\ndan\n"]);
    sb.canopy_ok(&b, &["set", "notes", "1\n2\n3\n4\n5\nsix\n"]);
    for r in [&b, &a, &b] {
        sb.canopy_ok(r, &["sync", "-q"]);
        sb.assert_fsck_clean(server);
    }
    assert_eq!(sb.rev_parse(&a, "main"), sb.rev_parse(&b, "main"));
    assert_eq!(sb.rev_parse(&a, "main"), sb.rev_parse(server, "main"));
    for r in [&a, &b] {
        assert_eq!(sb.canopy_ok(r, &["get", "counter"]), "106\n");
        assert_eq!(sb.canopy_ok(r, &["get", "members"]), "bob\ncid\ndan\n");
        assert_eq!(sb.canopy_ok(r, &["get", "notes"]), "one\n2\n3\n4\n5\nsix\n");
    }

    // A conflicting pull exits 1 and leaves the branch; the push is refused until forced.
    sb.canopy_ok(&a, &["set", "notes", "A\n"]);
    sb.canopy_ok(&a, &["push", "-q"]);
    sb.assert_fsck_clean(server);
    sb.canopy_ok(&b, &["set", "notes", "B\n"]);
    let before = sb.rev_parse(&b, "main");
    let run = sb.canopy(&b, &["pull", "-q"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.err().contains("conflict in notes"), "{run:?}");
    assert_eq!(sb.rev_parse(&b, "main"), before);
    let run = sb.canopy(&b, &["push"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(sb.rev_parse(server, "main"), sb.rev_parse(&a, "main"));
    sb.canopy_ok(&b, &["push", "-q", "--force"]);
    assert_eq!(sb.rev_parse(server, "main"), sb.rev_parse(&b, "main"));
    sb.assert_fsck_clean(server);
    sb.canopy_ok(&a, &["fetch", "-q"]);
    assert_eq!(
        sb.rev_parse(&a, "refs/remotes/origin/main"),
        sb.rev_parse(server, "main")
    );

    // Shallow: one commit, then pulls without deepening and pushes.
    sb.canopy_ok(&top, &["clone", "-q", "--depth", "1", url, "shallow"]);
    let shallow = sb.path("shallow");
    assert_eq!(sb.git_str(&shallow, &["rev-list", "--count", "main"]), "1");
    sb.canopy_ok(&b, &["pull", "-q"]);
    sb.canopy_ok(&b, &["set", "v", "4"]);
    sb.canopy_ok(&b, &["push", "-q"]);
    sb.canopy_ok(&shallow, &["pull", "-q"]);
    assert_eq!(sb.canopy_ok(&shallow, &["get", "v"]), "4");
    assert_eq!(sb.git_str(&shallow, &["rev-list", "--count", "main"]), "2");
    sb.assert_fsck_clean(&shallow);
    sb.canopy_ok(&shallow, &["set", "w", "from shallow"]);
    sb.canopy_ok(&shallow, &["push", "-q"]);
    sb.assert_fsck_clean(server);

    // Blobless: an old value is fetched when read.
    sb.canopy_ok(&top, &["clone", "-q", "--filter", "blob:none", url, "blobless"]);
    let blobless = sb.path("blobless");
    let old_blob = sb.git_str(&seed, &["rev-parse", "main~2:v"]);
    let no_lazy = [("GIT_NO_LAZY_FETCH", "1")];
    let has = |blob: &str| {
        sb.git_with(&blobless, &["cat-file", "-e", blob], &no_lazy, None)
            .code
            == 0
    };
    assert!(!has(&old_blob));
    let old_commit = sb.rev_parse(&seed, "main~2");
    assert_eq!(sb.canopy_ok(&blobless, &["get", "v", "--at", &old_commit]), "1");
    assert!(has(&old_blob));
    sb.canopy_ok(&blobless, &["set", "v", "5"]);
    sb.canopy_ok(&blobless, &["sync", "-q"]);
    assert_eq!(sb.rev_parse(server, "main"), sb.rev_parse(&blobless, "main"));
    sb.assert_fsck_clean(&blobless);
    sb.assert_fsck_clean(server);
}

/// Stock `git-upload-pack` serves partial clones only when the repository allows it.
fn allow_filters(sb: &Sandbox, server: &Path) {
    sb.git_ok(server, &["config", "uploadpack.allowFilter", "true"]);
}

/// An empty bare repository made by `git init --bare` with `main` as HEAD.
fn git_bare(sb: &Sandbox, name: &str) -> PathBuf {
    let top = sb.path("");
    sb.git_ok(&top, &["init", "-q", "--bare", "-b", "main", name]);
    sb.path(name)
}

#[test]
fn ssh_urls_with_a_canopy_store() {
    let sb = Sandbox::new();
    let Some((sshd, user)) = start_sshd(&sb, false, true) else {
        return;
    };
    let server = sb.init_store("server", "sha1");
    let url = format!("ssh://{user}@127.0.0.1:{}{}", sshd.port, server.display());
    allow_filters(&sb, &server);
    scenario(&sb, &server, &url);
    // git reads what was pushed over ssh, through the same URL.
    sb.git_ok(&sb.path(""), &["clone", "-q", &url, "by-git"]);
    assert_eq!(
        sb.git_str(&sb.path("by-git"), &["rev-parse", "HEAD"]),
        sb.rev_parse(&server, "main")
    );
}

#[test]
fn scp_like_urls_with_a_git_repository() {
    let sb = Sandbox::new();
    let Some((_sshd, user)) = start_sshd(&sb, true, true) else {
        return;
    };
    let server = git_bare(&sb, "server.git");
    let url = format!("{user}@127.0.0.1:{}", server.display());
    allow_filters(&sb, &server);
    scenario(&sb, &server, &url);
}

#[test]
fn git_daemon_urls() {
    let sb = Sandbox::new();
    let base = sb.path("exported");
    std::fs::create_dir_all(&base).unwrap();
    let Some(daemon) = start_git_daemon(&base) else {
        return;
    };
    let server = git_bare(&sb, "exported/server.git");
    let url = format!("git://127.0.0.1:{}/server.git", daemon.port);
    allow_filters(&sb, &server);
    scenario(&sb, &server, &url);
    // A repository the daemon does not have: the daemon's own words.
    let run = sb.canopy(
        &sb.path(""),
        &[
            "clone",
            &format!("git://127.0.0.1:{}/nothing.git", daemon.port),
            "x",
        ],
    );
    assert_ne!(run.code, 0);
    run.assert_one_line_error();
    assert!(run.err().contains("nothing.git"), "{run:?}");
}

fn canopy_env(sb: &Sandbox, root: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = sb.canopy_command(root, args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    common::run(cmd, format!("canopy {}", args.join(" ")), None)
}

#[test]
fn ssh_settings_and_failures() {
    let sb = Sandbox::new();
    let Some((sshd, user)) = start_sshd(&sb, false, true) else {
        return;
    };
    let top = sb.path("");
    let server = sb.init_store("server", "sha1");
    sb.canopy_ok(&server, &["set", "a", "1"]);
    let path = server.display().to_string();
    let url = format!("ssh://{user}@127.0.0.1:{}{path}", sshd.port);

    // GIT_SSH_COMMAND wins over core.sshCommand.
    let run = canopy_env(
        &sb,
        &top,
        &["clone", "-q", &url, "c1"],
        &[("GIT_SSH_COMMAND", "false")],
    );
    assert_ne!(run.code, 0);
    run.assert_one_line_error();
    assert!(run.err().contains("ssh exited with code 1"), "{run:?}");

    // A key the server does not know: ssh's own message, quickly, not a hang.
    let d = sb.path("sshd");
    let other = d.join("other");
    Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap();
    let bad = format!(
        "ssh -i {} -o IdentitiesOnly=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o LogLevel=ERROR",
        other.display()
    );
    let run = canopy_env(
        &sb,
        &top,
        &["clone", "-q", &url, "c2"],
        &[("GIT_SSH_COMMAND", &bad)],
    );
    assert_ne!(run.code, 0);
    run.assert_one_line_error();
    assert!(run.err().contains("Permission denied"), "{run:?}");
    assert!(!sb.path("c2").join("objects").exists());

    // Nothing listening.
    let closed = format!("ssh://{user}@127.0.0.1:{}{path}", free_port());
    let run = sb.canopy(&top, &["clone", "-q", &closed, "c3"]);
    assert_ne!(run.code, 0);
    run.assert_one_line_error();
    assert!(run.err().contains("Connection refused"), "{run:?}");

    // No repository there: git-upload-pack's message.
    let missing = format!("ssh://{user}@127.0.0.1:{}{path}-missing", sshd.port);
    let run = sb.canopy(&top, &["clone", "-q", &missing, "c4"]);
    assert_ne!(run.code, 0);
    run.assert_one_line_error();
    assert!(
        run.err().contains("does not appear to be a git repository"),
        "{run:?}"
    );

    // Option injection through the host, user or path is refused before ssh runs.
    let witness = sb.path("pwned");
    for bad in [
        format!("ssh://-oProxyCommand=touch {}/x", witness.display()),
        format!("ssh://-oProxyCommand=touch@127.0.0.1/{}", witness.display()),
        "-oProxyCommand=reboot:x".to_string(),
        "127.0.0.1:-x".to_string(),
        "ssh://127.0.0.1:-p/x".to_string(),
    ] {
        let run = sb.canopy(&top, &["clone", "-q", "--", &bad, "c5"]);
        assert_ne!(run.code, 0, "{bad}");
        run.assert_one_line_error();
        assert!(run.err().contains("blocked"), "{bad}: {run:?}");
        assert!(!witness.exists());
    }

    // remote.<name>.uploadpack/receivepack name the programs, as in git; insteadOf rewrites.
    sb.canopy_ok(&top, &["clone", "-q", &url, "c6"]);
    let c6 = sb.path("c6");
    sb.git_ok(
        &c6,
        &["config", "remote.origin.uploadpack", "/nowhere/git-upload-pack"],
    );
    let run = sb.canopy(&c6, &["fetch", "-q"]);
    assert_ne!(run.code, 0);
    assert!(run.err().contains("/nowhere/git-upload-pack"), "{run:?}");
    let exec = Command::new("git").arg("--exec-path").output().unwrap();
    let exec = String::from_utf8_lossy(&exec.stdout).trim().to_string();
    sb.git_ok(
        &c6,
        &[
            "config",
            "remote.origin.uploadpack",
            &format!("{exec}/git-upload-pack"),
        ],
    );
    sb.git_ok(
        &c6,
        &[
            "config",
            "remote.origin.receivepack",
            &format!("{exec}/git-receive-pack"),
        ],
    );
    sb.git_ok(&c6, &["config", "remote.origin.url", "srv:it"]);
    let base = format!(
        "ssh://{user}@127.0.0.1:{}{}",
        sshd.port,
        server.parent().unwrap().display()
    );
    sb.git_ok(
        &c6,
        &["config", &format!("url.{base}/server.insteadOf"), "srv:it"],
    );
    sb.canopy_ok(&server, &["set", "a", "2"]);
    sb.canopy_ok(&c6, &["pull", "-q"]);
    assert_eq!(sb.canopy_ok(&c6, &["get", "a"]), "2");
    sb.canopy_ok(&c6, &["set", "a", "3"]);
    sb.canopy_ok(&c6, &["push", "-q"]);
    assert_eq!(sb.canopy_ok(&server, &["get", "a"]), "3");
    sb.assert_fsck_clean(&server);
}

#[test]
fn http_credentials_from_git_helpers_extra_headers_and_instead_of() {
    let sb = Sandbox::new();
    let store = sb.init_store("store", "sha1");
    sb.canopy_ok(&store, &["set", "a", "1"]);
    let token = sb.canopy_ok(&store, &["token", "create", "dev", "--read", "*", "--write", "*"]);
    let token = token.trim().to_string();
    let served = Served::start(&sb, &store);
    let top = sb.path("");

    // No helper: the 401 is a clear error.
    let run = canopy_env(
        &sb,
        &top,
        &["clone", "-q", &served.url(), "anon"],
        &[("GIT_TERMINAL_PROMPT", "0")],
    );
    assert_ne!(run.code, 0);
    run.assert_one_line_error();
    assert!(run.err().contains("authentication required"), "{run:?}");

    // http.extraHeader goes with every request: here, the credentials themselves.
    let b64 = Command::new("sh")
        .args(["-c", &format!("printf %s 'x:{token}' | base64 -w0")])
        .output()
        .unwrap();
    let b64 = String::from_utf8(b64.stdout).unwrap();
    let header = format!("Authorization: Basic {b64}");
    sb.git_ok(&top, &["config", "--global", "http.extraHeader", &header]);
    let run = canopy_env(
        &sb,
        &top,
        &["clone", "-q", &served.url(), "by-header"],
        &[("GIT_TERMINAL_PROMPT", "0")],
    );
    assert_eq!(run.code, 0, "{run:?}");
    // An empty value clears the list, as in git.
    sb.git_ok(&top, &["config", "--global", "--add", "http.extraHeader", ""]);
    let run = canopy_env(
        &sb,
        &top,
        &["clone", "-q", &served.url(), "cleared"],
        &[("GIT_TERMINAL_PROMPT", "0")],
    );
    assert_ne!(run.code, 0);
    sb.git_ok(&top, &["config", "--global", "--unset-all", "http.extraHeader"]);

    // A helper that knows the token; a log of what git asked it (fill, approve, reject).
    let log = sb.path("helper.log");
    let helper = format!(
        "!f() {{ echo \"$1\" >> {}; if [ \"$1\" = get ]; then echo username=x; echo password=$CANOPY_TEST_TOKEN; fi; }}; f",
        log.display()
    );
    sb.git_ok(&top, &["config", "--global", "credential.helper", &helper]);
    // `gh:` is rewritten to the server's URL; extra headers go with every request.
    sb.git_ok(
        &top,
        &[
            "config",
            "--global",
            &format!("url.{}/.insteadOf", served.url()),
            "gh:",
        ],
    );
    sb.git_ok(
        &top,
        &["config", "--global", "http.extraHeader", "X-Canopy-Test: one"],
    );
    let env = [
        ("CANOPY_TEST_TOKEN", token.as_str()),
        ("GIT_TERMINAL_PROMPT", "0"),
    ];
    let run = canopy_env(&sb, &top, &["clone", "-q", "gh:", "c"], &env);
    assert_eq!(run.code, 0, "{run:?}");
    let c = sb.path("c");
    assert_eq!(sb.canopy_ok(&c, &["get", "a"]), "1");
    let asked = std::fs::read_to_string(&log).unwrap();
    assert!(asked.starts_with("get\nstore\n"), "{asked}");
    // The remote keeps the URL as written, as git's does.
    assert_eq!(sb.git_str(&c, &["config", "remote.origin.url"]), "gh:");
    let run = canopy_env(&sb, &c, &["set", "a", "2"], &env);
    assert_eq!(run.code, 0);
    let run = canopy_env(&sb, &c, &["push", "-q"], &env);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(sb.canopy_ok(&store, &["get", "a"]), "2");

    // A wrong password: refused, and the helper is told to forget it.
    std::fs::write(&log, "").unwrap();
    let wrong = [("CANOPY_TEST_TOKEN", "wrong"), ("GIT_TERMINAL_PROMPT", "0")];
    let run = canopy_env(&sb, &c, &["fetch", "-q"], &wrong);
    assert_ne!(run.code, 0);
    run.assert_one_line_error();
    assert!(run.err().contains("authentication required"), "{run:?}");
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "get\nerase\n");

    // pushInsteadOf sends pushes elsewhere (here: a URL that cannot work).
    sb.git_ok(
        &c,
        &["config", "url.http://127.0.0.1:1/nowhere.pushInsteadOf", "gh:"],
    );
    let run = canopy_env(&sb, &c, &["push", "-q"], &env);
    assert_ne!(run.code, 0);
    assert!(run.err().contains("127.0.0.1:1/nowhere"), "{run:?}");
    let run = canopy_env(&sb, &c, &["fetch", "-q"], &env);
    assert_eq!(run.code, 0, "{run:?}");
}

#[test]
fn ssh_to_an_sshd_that_drops_git_protocol() {
    let sb = Sandbox::new();
    let Some((sshd, user)) = start_sshd(&sb, false, false) else {
        return;
    };
    let top = sb.path("");
    let server = sb.init_store("server", "sha1");
    sb.canopy_ok(&server, &["set", "a", "1"]);
    let url = format!("ssh://{user}@127.0.0.1:{}{}", sshd.port, server.display());
    sb.canopy_ok(&top, &["clone", "-q", &url, "c"]);
    let c = sb.path("c");
    assert_eq!(sb.canopy_ok(&c, &["get", "a"]), "1");
    sb.canopy_ok(&c, &["set", "a", "2"]);
    sb.canopy_ok(&c, &["sync", "-q"]);
    assert_eq!(sb.canopy_ok(&server, &["get", "a"]), "2");
    sb.assert_fsck_clean(&server);
}
