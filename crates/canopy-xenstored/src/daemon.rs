//! The daemon: a Unix socket, a thread per connection, and one thread following the branch to
//! fire watches.
//!
//! Writes from every connection go through one commit lock, so this daemon's commits never
//! race each other; a commit by another process in between is merged with the drivers. A
//! request outside a transaction is one commit (`write /local/domain/0/name`); a transaction
//! is one commit made when it ends.
//!
//! **Transactions.** `XS_TRANSACTION_START` takes the head commit as a snapshot; requests in
//! the transaction read the snapshot plus the transaction's own writes. At `XS_TRANSACTION_END`
//! the transaction fails with `EAGAIN` if anything it read or wrote — a node's existence and
//! value, its permissions, the list of children of a directory it listed or removed — differs
//! between the snapshot and the head (cxenstored's rule; a read-only transaction is checked
//! too). Otherwise its changes are merged onto the head as one commit
//! ([`canopy::Branch::transaction_at`] from the snapshot); a merge conflict is `EAGAIN` too.
//! A transaction lives in its connection: a client that goes away leaves nothing behind.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, BufReader};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path as FsPath, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use canopy::retry::Retry;
use canopy::store::{CommitOptions, WatchOptions};
use canopy::{Branch, Path, Repo};

use crate::nodes::{self, Nodes};
use crate::ops::{self, Caller};
use crate::path::XsPath;
use crate::perms::Perms;
use crate::watches::{Registry, Target, Watch};
use crate::wire::{self, op, split_strings, Errno, Frame, Message, PAYLOAD_MAX};

/// Open transactions one connection may hold.
const MAX_TRANSACTIONS: usize = 64;
/// Watches one connection may hold.
const MAX_WATCHES: usize = 256;
/// How often a write outside a transaction is re-done when another process's commit conflicts.
const MAX_WRITE_ATTEMPTS: u32 = 10;

/// Where the daemon keeps its nodes and listens.
#[derive(Clone, Debug)]
pub struct Config {
    /// The store (created if missing).
    pub root: PathBuf,
    /// The branch holding the nodes.
    pub branch: String,
    /// The Unix socket clients connect to.
    pub socket: PathBuf,
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("store {}: {source}", root.display())]
    Store {
        root: PathBuf,
        #[source]
        source: canopy::store::Error,
    },
    #[error("socket {}: {source}", path.display())]
    Socket {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("socket {}: another daemon is listening there", .0.display())]
    InUse(PathBuf),
}

/// A daemon bound to its socket, not yet serving.
pub struct Daemon {
    shared: Arc<Shared>,
    listener: UnixListener,
    socket: PathBuf,
    follower: canopy::store::Watch,
}

/// A daemon serving on background threads (see [`Daemon::spawn`]).
pub struct Running {
    shared: Arc<Shared>,
    socket: PathBuf,
    follower: Option<thread::JoinHandle<()>>,
    acceptor: Option<thread::JoinHandle<()>>,
}

struct Shared {
    branch: Branch,
    commit_lock: Mutex<()>,
    watches: Mutex<Registry>,
    domains: Mutex<Domains>,
    next_tx: AtomicU32,
    next_conn: AtomicU64,
    stop: AtomicBool,
}

#[derive(Default)]
struct Domains {
    introduced: BTreeSet<u32>,
    /// Domain → the domain it is the device model of.
    targets: HashMap<u32, u32>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Opens the store at `root`, creating it if there is none.
pub fn open_store(root: &FsPath) -> Result<Repo, canopy::store::Error> {
    if root.join("HEAD").exists() || root.join(".git").exists() {
        Repo::open(root)
    } else {
        Repo::init(root)
    }
}

impl Daemon {
    /// Opens (or creates) the store and binds the socket. A stale socket file is replaced; one
    /// a live daemon answers on is not.
    pub fn bind(config: &Config) -> Result<Daemon, StartError> {
        let store_err = |source| StartError::Store {
            root: config.root.clone(),
            source,
        };
        let repo = open_store(&config.root).map_err(store_err)?;
        let branch = repo.branch(&config.branch).map_err(store_err)?;
        let follower = branch
            .watch_with(&Path::root(), &WatchOptions::default())
            .map_err(store_err)?;
        let socket = config.socket.clone();
        let sock_err = |source| StartError::Socket {
            path: socket.clone(),
            source,
        };
        if let Ok(meta) = std::fs::symlink_metadata(&socket) {
            if !meta.file_type().is_socket() {
                return Err(sock_err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    "exists and is not a socket",
                )));
            }
            if UnixStream::connect(&socket).is_ok() {
                return Err(StartError::InUse(socket));
            }
            std::fs::remove_file(&socket).map_err(sock_err)?;
        }
        if let Some(dir) = socket.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(sock_err)?;
        }
        let listener = UnixListener::bind(&socket).map_err(sock_err)?;
        Ok(Daemon {
            shared: Arc::new(Shared {
                branch,
                commit_lock: Mutex::new(()),
                watches: Mutex::new(Registry::default()),
                domains: Mutex::new(Domains::default()),
                next_tx: AtomicU32::new(1),
                next_conn: AtomicU64::new(1),
                stop: AtomicBool::new(false),
            }),
            listener,
            socket,
            follower,
        })
    }

    pub fn socket(&self) -> &FsPath {
        &self.socket
    }

    /// Serves until the process ends.
    pub fn run(self) {
        let Daemon {
            shared,
            listener,
            follower,
            ..
        } = self;
        let follow = Arc::clone(&shared);
        thread::spawn(move || follow_branch(follow, follower));
        accept_loop(shared, listener);
    }

    /// Serves on background threads; [`Running::stop`] ends it.
    pub fn spawn(self) -> Running {
        let Daemon {
            shared,
            listener,
            socket,
            follower,
        } = self;
        let follow = Arc::clone(&shared);
        let accept = Arc::clone(&shared);
        Running {
            shared,
            socket,
            follower: Some(thread::spawn(move || follow_branch(follow, follower))),
            acceptor: Some(thread::spawn(move || accept_loop(accept, listener))),
        }
    }
}

impl Running {
    pub fn socket(&self) -> &FsPath {
        &self.socket
    }

    /// Stops accepting connections and following the branch (open connections are served
    /// until their clients close them).
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag; if the socket is gone, the thread is left
        // blocked in `accept` (it serves nothing more).
        let woken = UnixStream::connect(&self.socket).is_ok();
        if let Some(t) = self.acceptor.take().filter(|_| woken) {
            let _ = t.join();
        }
        if let Some(t) = self.follower.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.follower.is_some() {
            self.shutdown();
        }
    }
}

fn accept_loop(shared: Arc<Shared>, listener: UnixListener) {
    for stream in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        match stream {
            Ok(stream) => {
                let shared = Arc::clone(&shared);
                thread::spawn(move || serve(shared, stream));
            }
            Err(e) => {
                eprintln!("canopy-xenstored: accept: {e}");
                thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// Follows the branch and fires the watches of the nodes each move changed.
fn follow_branch(shared: Arc<Shared>, mut follower: canopy::store::Watch) {
    while !shared.stop.load(Ordering::SeqCst) {
        let event = match follower.next_timeout(Duration::from_millis(200)) {
            Ok(Some(event)) => event,
            Ok(None) => continue,
            Err(e) => {
                eprintln!(
                    "canopy-xenstored: following branch '{}': {e}",
                    shared.branch.name()
                );
                thread::sleep(Duration::from_millis(500));
                continue;
            }
        };
        let changed: BTreeSet<XsPath> = event
            .changes
            .iter()
            .filter_map(|c| XsPath::of_file(&c.path))
            .collect();
        if changed.is_empty() {
            continue;
        }
        // Unprivileged watchers hear only of nodes they may read in the new head.
        let mut after: Option<Nodes> = None;
        let repo = shared.branch.repo().clone();
        let mut may_see = |w: &Watch, node: &XsPath| {
            if w.caller.privileged {
                return true;
            }
            if after.is_none() {
                after = Nodes::at(&repo, event.new).ok();
            }
            match after.as_mut().map(|n| n.perms(node)) {
                Some(Ok(p)) => p.access(w.caller.domid, w.caller.target).can_read(),
                _ => false,
            }
        };
        lock(&shared.watches).fire(&changed, &mut may_see);
    }
}

/// Serves one connection until the client closes it.
fn serve(shared: Arc<Shared>, stream: UnixStream) {
    let id = shared.next_conn.fetch_add(1, Ordering::SeqCst);
    let (out, outbox) = mpsc::channel::<Message>();
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("canopy-xenstored: connection {id}: {e}");
            return;
        }
    };
    // One writer per connection: replies and watch events go out whole, in the order queued.
    let writer_thread = thread::spawn(move || {
        for message in outbox {
            if message.write_to(&mut writer).is_err() {
                break;
            }
        }
        let _ = writer.shutdown(std::net::Shutdown::Both);
    });
    let mut conn = Conn {
        id,
        domid: 0,
        privileged: true,
        txs: HashMap::new(),
        out,
        shared: Arc::clone(&shared),
    };
    let mut reader = BufReader::new(stream);
    loop {
        match wire::read_frame(&mut reader) {
            Ok(Frame::Message(m)) => conn.handle(m),
            Ok(Frame::Oversize {
                ty, req_id, tx_id, ..
            }) => {
                let _ = ty;
                conn.send(Message::error(req_id, tx_id, Errno::TooBig));
            }
            Ok(Frame::Closed) => break,
            Err(e) => {
                if e.kind() != io::ErrorKind::ConnectionReset {
                    eprintln!("canopy-xenstored: connection {id}: {e}");
                }
                break;
            }
        }
    }
    lock(&shared.watches).remove_conn(id);
    // Open transactions are dropped with the connection: nothing of them was committed.
    drop(conn);
    let _ = writer_thread.join();
}

/// One client connection.
struct Conn {
    id: u64,
    domid: u32,
    privileged: bool,
    txs: HashMap<u32, Nodes>,
    out: Sender<Message>,
    shared: Arc<Shared>,
}

fn store_failure(e: impl std::fmt::Display) -> Errno {
    eprintln!("canopy-xenstored: store: {e}");
    Errno::Io
}

fn node_errno(e: nodes::Error) -> Errno {
    match e {
        nodes::Error::Refused(errno) => errno,
        nodes::Error::Store(e) => store_failure(e),
    }
}

/// The single string of a one-argument request.
fn one_arg(m: &Message) -> Result<&[u8], Errno> {
    match m.strings().as_slice() {
        [one] => Ok(one),
        _ => Err(Errno::Inval),
    }
}

fn domid(arg: &[u8]) -> Result<u32, Errno> {
    std::str::from_utf8(arg)
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or(Errno::Inval)
}

fn with_nul(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

const OK: &[u8] = b"OK\0";

impl Conn {
    fn send(&self, m: Message) {
        // A closed writer means the client is gone; the reader sees it next.
        let _ = self.out.send(m);
    }

    fn domain_path(&self) -> String {
        format!("/local/domain/{}", self.domid)
    }

    fn caller(&self) -> Caller {
        Caller {
            domid: self.domid,
            privileged: self.privileged,
            target: lock(&self.shared.domains).targets.get(&self.domid).copied(),
        }
    }

    fn path(&self, raw: &[u8]) -> Result<XsPath, Errno> {
        XsPath::parse(raw, &self.domain_path())
    }

    fn privileged_only(&self) -> Result<(), Errno> {
        if self.privileged {
            Ok(())
        } else {
            Err(Errno::Acces)
        }
    }

    fn handle(&mut self, m: Message) {
        let answer = self.answer(&m);
        match answer {
            Ok(payload) => {
                self.send(Message::new(m.ty, m.req_id, m.tx_id, payload));
                if m.ty == op::WATCH {
                    self.initial_event(&m);
                }
            }
            Err(errno) => self.send(Message::error(m.req_id, m.tx_id, errno)),
        }
    }

    fn answer(&mut self, m: &Message) -> Result<Vec<u8>, Errno> {
        match m.ty {
            op::READ => {
                let p = self.path(one_arg(m)?)?;
                self.nodes(m.tx_id, false, |n, c| ops::read(n, c, &p))
            }
            op::DIRECTORY => {
                let p = self.path(one_arg(m)?)?;
                let names = self.nodes(m.tx_id, false, |n, c| ops::directory(n, c, &p))?;
                let mut out = Vec::new();
                for name in names {
                    out.extend_from_slice(name.as_bytes());
                    out.push(0);
                }
                if out.len() > PAYLOAD_MAX {
                    return Err(Errno::TooBig);
                }
                Ok(out)
            }
            op::DIRECTORY_PART => {
                let args = m.strings();
                let [raw, offset] = args.as_slice() else {
                    return Err(Errno::Inval);
                };
                let p = self.path(raw)?;
                let offset = domid(offset)? as usize;
                let names = self.nodes(m.tx_id, false, |n, c| ops::directory(n, c, &p))?;
                directory_part(&names, offset)
            }
            op::GET_PERMS => {
                let p = self.path(one_arg(m)?)?;
                Ok(self
                    .nodes(m.tx_id, false, |n, c| ops::get_perms(n, c, &p))?
                    .to_wire())
            }
            op::WRITE => {
                let cut = m.payload.iter().position(|&b| b == 0).ok_or(Errno::Inval)?;
                let p = self.path(&m.payload[..cut])?;
                let value = &m.payload[cut + 1..];
                self.nodes(m.tx_id, true, |n, c| ops::write(n, c, &p, value))?;
                Ok(OK.to_vec())
            }
            op::MKDIR => {
                let p = self.path(one_arg(m)?)?;
                self.nodes(m.tx_id, true, |n, c| ops::mkdir(n, c, &p))?;
                Ok(OK.to_vec())
            }
            op::RM => {
                let p = self.path(one_arg(m)?)?;
                self.nodes(m.tx_id, true, |n, c| ops::rm(n, c, &p))?;
                Ok(OK.to_vec())
            }
            op::SET_PERMS => {
                let args = m.strings();
                let (raw, entries) = args.split_first().ok_or(Errno::Inval)?;
                let p = self.path(raw)?;
                let perms = Perms::parse(entries.iter().copied())?;
                self.nodes(m.tx_id, true, |n, c| ops::set_perms(n, c, &p, &perms))?;
                Ok(OK.to_vec())
            }
            op::WATCH => self.watch(m),
            op::UNWATCH => {
                let (target, _, token) = self.watch_args(m)?;
                if lock(&self.shared.watches).remove(self.id, &target, &token) {
                    Ok(OK.to_vec())
                } else {
                    Err(Errno::NoEnt)
                }
            }
            op::RESET_WATCHES => {
                lock(&self.shared.watches).remove_conn(self.id);
                self.txs.clear();
                Ok(OK.to_vec())
            }
            op::TRANSACTION_START => {
                if m.tx_id != 0 {
                    return Err(Errno::Busy);
                }
                if self.txs.len() >= MAX_TRANSACTIONS {
                    return Err(Errno::NoSpc);
                }
                let head = self.shared.branch.head().map_err(store_failure)?;
                let nodes = Nodes::at(self.shared.branch.repo(), head).map_err(node_errno)?;
                let id = loop {
                    let id = self.shared.next_tx.fetch_add(1, Ordering::SeqCst);
                    if id != 0 {
                        break id;
                    }
                };
                self.txs.insert(id, nodes);
                Ok(with_nul(&id.to_string()))
            }
            op::TRANSACTION_END => {
                let commit = match one_arg(m)? {
                    b"T" => true,
                    b"F" => false,
                    _ => return Err(Errno::Inval),
                };
                let nodes = self.txs.remove(&m.tx_id).ok_or(Errno::NoEnt)?;
                if commit {
                    self.commit_transaction(nodes, m.tx_id)?;
                }
                Ok(OK.to_vec())
            }
            op::GET_DOMAIN_PATH => Ok(with_nul(&format!("/local/domain/{}", domid(one_arg(m)?)?))),
            op::INTRODUCE => {
                self.privileged_only()?;
                let args = m.strings();
                let [id, _mfn, _port] = args.as_slice() else {
                    return Err(Errno::Inval);
                };
                let id = domid(id)?;
                let new = lock(&self.shared.domains).introduced.insert(id);
                if new {
                    lock(&self.shared.watches).fire_special("@introduceDomain");
                }
                Ok(OK.to_vec())
            }
            op::RELEASE => {
                self.privileged_only()?;
                let id = domid(one_arg(m)?)?;
                {
                    let mut domains = lock(&self.shared.domains);
                    if !domains.introduced.remove(&id) {
                        return Err(Errno::NoEnt);
                    }
                    domains.targets.remove(&id);
                }
                lock(&self.shared.watches).fire_special("@releaseDomain");
                Ok(OK.to_vec())
            }
            op::IS_DOMAIN_INTRODUCED => {
                let id = domid(one_arg(m)?)?;
                let known = id == 0 || lock(&self.shared.domains).introduced.contains(&id);
                Ok(if known { b"T\0".to_vec() } else { b"F\0".to_vec() })
            }
            op::RESUME => {
                self.privileged_only()?;
                let id = domid(one_arg(m)?)?;
                if lock(&self.shared.domains).introduced.contains(&id) {
                    Ok(OK.to_vec())
                } else {
                    Err(Errno::NoEnt)
                }
            }
            op::SET_TARGET => {
                self.privileged_only()?;
                let args = m.strings();
                let [id, target] = args.as_slice() else {
                    return Err(Errno::Inval);
                };
                let (id, target) = (domid(id)?, domid(target)?);
                lock(&self.shared.domains).targets.insert(id, target);
                Ok(OK.to_vec())
            }
            op::RESTRICT => {
                self.privileged_only()?;
                self.domid = domid(one_arg(m)?)?;
                self.privileged = false;
                Ok(OK.to_vec())
            }
            _ => Err(Errno::Inval),
        }
    }

    /// Runs `f` on the nodes the request sees: the transaction's, else the head's. A write
    /// outside a transaction is committed here, under the commit lock.
    fn nodes<T>(
        &mut self,
        tx_id: u32,
        write: bool,
        mut f: impl FnMut(&mut Nodes, &Caller) -> nodes::Result<T>,
    ) -> Result<T, Errno> {
        let caller = self.caller();
        if tx_id != 0 {
            let nodes = self.txs.get_mut(&tx_id).ok_or(Errno::NoEnt)?;
            return f(nodes, &caller).map_err(node_errno);
        }
        let branch = &self.shared.branch;
        if !write {
            let head = branch.head().map_err(store_failure)?;
            let mut nodes = Nodes::at(branch.repo(), head).map_err(node_errno)?;
            return f(&mut nodes, &caller).map_err(node_errno);
        }
        let _guard = lock(&self.shared.commit_lock);
        let mut retry = Retry::attempts(MAX_WRITE_ATTEMPTS);
        loop {
            let head = branch.head().map_err(store_failure)?;
            let mut nodes = Nodes::at(branch.repo(), head).map_err(node_errno)?;
            let result = f(&mut nodes, &caller).map_err(node_errno)?;
            if !nodes.is_written() {
                return Ok(result);
            }
            match commit(branch, &nodes, &nodes.message(None)) {
                Ok(()) => return Ok(result),
                // Another process changed the same node meanwhile: do it again on its commit.
                Err(canopy::store::Error::Conflicts { .. }) if retry.again() => continue,
                Err(canopy::store::Error::Conflicts { .. }) => return Err(Errno::Again),
                Err(e) => return Err(store_failure(e)),
            }
        }
    }

    fn commit_transaction(&self, nodes: Nodes, id: u32) -> Result<(), Errno> {
        let branch = &self.shared.branch;
        let _guard = lock(&self.shared.commit_lock);
        let head = branch.head().map_err(store_failure)?;
        if head != nodes.base() {
            let head_tree = match head {
                Some(h) => branch.repo().view_at(h).map_err(store_failure)?.tree().clone(),
                None => canopy::tree::Tree::empty(),
            };
            if !nodes.unchanged_in(&head_tree).map_err(node_errno)? {
                return Err(Errno::Again);
            }
        }
        if !nodes.is_written() {
            return Ok(());
        }
        match commit(branch, &nodes, &nodes.message(Some(&format!("transaction {id}")))) {
            Ok(()) => Ok(()),
            Err(canopy::store::Error::Conflicts { .. }) => Err(Errno::Again),
            Err(e) => Err(store_failure(e)),
        }
    }

    /// The target, the domain prefix of a relative path, and the token of a watch request.
    fn watch_args(&self, m: &Message) -> Result<(Target, Option<String>, Vec<u8>), Errno> {
        let args = split_strings(&m.payload);
        let [raw, token] = args.as_slice() else {
            return Err(Errno::Inval);
        };
        if raw.first() == Some(&b'@') {
            let name = std::str::from_utf8(raw).map_err(|_| Errno::Inval)?;
            if name.len() < 2
                || !name[1..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(Errno::Inval);
            }
            return Ok((Target::Special(name.to_string()), None, token.to_vec()));
        }
        let relative = (raw.first() != Some(&b'/')).then(|| self.domain_path());
        Ok((Target::Node(self.path(raw)?), relative, token.to_vec()))
    }

    fn watch(&mut self, m: &Message) -> Result<Vec<u8>, Errno> {
        let (target, relative_to, token) = self.watch_args(m)?;
        let mut watches = lock(&self.shared.watches);
        if watches.count(self.id) >= MAX_WATCHES {
            return Err(Errno::NoSpc);
        }
        let added = watches.add(Watch {
            conn: self.id,
            caller: self.caller(),
            target,
            relative_to,
            token,
            out: self.out.clone(),
        });
        if added {
            Ok(OK.to_vec())
        } else {
            Err(Errno::Exist)
        }
    }

    /// A new watch fires at once with its own path, so the client reads the current state.
    fn initial_event(&self, m: &Message) {
        let args = split_strings(&m.payload);
        if let [raw, token] = args.as_slice() {
            let mut payload = raw.to_vec();
            payload.push(0);
            payload.extend_from_slice(token);
            payload.push(0);
            self.send(Message::new(op::WATCH_EVENT, 0, 0, payload));
        }
    }
}

/// Commits the nodes' changes as one commit made against their base commit: merged onto the
/// head with the drivers if it moved.
fn commit(branch: &Branch, nodes: &Nodes, message: &str) -> Result<(), canopy::store::Error> {
    branch
        .transaction_at(nodes.base())
        .set_tree(Path::root(), nodes.tree().clone())
        .commit(&CommitOptions::message(message))
        .map(|_| ())
}

/// One part of a directory listing (`XS_DIRECTORY_PART`): a generation string, then as many
/// NUL-terminated names from byte `offset` of the whole list as fit, and one more NUL when the
/// list ends there.
fn directory_part(names: &[String], offset: usize) -> Result<Vec<u8>, Errno> {
    let mut list = Vec::new();
    for n in names {
        list.extend_from_slice(n.as_bytes());
        list.push(0);
    }
    if offset > list.len() {
        return Err(Errno::Inval);
    }
    let generation = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        list.hash(&mut h);
        h.finish() >> 1
    };
    let mut out = with_nul(&generation.to_string());
    let room = PAYLOAD_MAX - out.len() - 1;
    let mut end = offset;
    while end < list.len() {
        let next = list[end..]
            .iter()
            .position(|&b| b == 0)
            .map_or(list.len(), |i| end + i + 1);
        if next - offset > room {
            break;
        }
        end = next;
    }
    out.extend_from_slice(&list[offset..end]);
    if end == list.len() {
        out.push(0);
    }
    Ok(out)
}
