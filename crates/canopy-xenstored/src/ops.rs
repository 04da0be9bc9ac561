//! Xenstore's rules for each node operation: who may do what, how nodes come to exist and
//! what a removal takes with it. Everything here works on [`Nodes`], so the same code serves
//! single requests and transactions.

use crate::nodes::{Nodes, Result};
use crate::path::XsPath;
use crate::perms::Perms;
use crate::wire::Errno;

/// The domain a request comes from.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    pub domid: u32,
    /// Dom0 on the Unix socket: every check passes.
    pub privileged: bool,
    /// The domain this one is the device model of (`XS_SET_TARGET`): it acts with its rights.
    pub target: Option<u32>,
}

impl Caller {
    pub fn dom0() -> Caller {
        Caller {
            domid: 0,
            privileged: true,
            target: None,
        }
    }

    /// The creator recorded as owner of new nodes (`None`: keep the parent's owner).
    fn creator(&self) -> Option<u32> {
        (!self.privileged).then_some(self.domid)
    }
}

#[derive(Clone, Copy)]
enum Need {
    Read,
    Write,
    Owner,
}

fn check(nodes: &mut Nodes, caller: &Caller, node: &XsPath, need: Need) -> Result<()> {
    if caller.privileged {
        return Ok(());
    }
    let perms = nodes.perms(node)?;
    let access = perms.access(caller.domid, caller.target);
    let ok = match need {
        Need::Read => access.can_read(),
        Need::Write => access.can_write(),
        Need::Owner => perms.owner() == caller.domid || caller.target == Some(perms.owner()),
    };
    if ok {
        Ok(())
    } else {
        Err(Errno::Acces.into())
    }
}

fn existing(nodes: &mut Nodes, caller: &Caller, node: &XsPath, need: Need) -> Result<()> {
    if !nodes.exists(node)? {
        return Err(Errno::NoEnt.into());
    }
    check(nodes, caller, node, need)
}

pub fn read(nodes: &mut Nodes, caller: &Caller, node: &XsPath) -> Result<Vec<u8>> {
    existing(nodes, caller, node, Need::Read)?;
    Ok(nodes.read(node)?.unwrap_or_default())
}

pub fn directory(nodes: &mut Nodes, caller: &Caller, node: &XsPath) -> Result<Vec<String>> {
    existing(nodes, caller, node, Need::Read)?;
    nodes.children(node)
}

pub fn get_perms(nodes: &mut Nodes, caller: &Caller, node: &XsPath) -> Result<Perms> {
    existing(nodes, caller, node, Need::Read)?;
    nodes.perms(node)
}

/// Sets the node's value, creating it and any missing parents (each inherits its parent's
/// permissions) if needed; creating takes write access to the nearest existing ancestor.
pub fn write(nodes: &mut Nodes, caller: &Caller, node: &XsPath, value: &[u8]) -> Result<()> {
    if nodes.exists(node)? {
        check(nodes, caller, node, Need::Write)?;
        nodes.set_value(node, value)?;
    } else {
        create(nodes, caller, node, value)?;
    }
    nodes.note(format!("write {node}"));
    Ok(())
}

/// Creates the node with an empty value; an existing node is left as it is.
pub fn mkdir(nodes: &mut Nodes, caller: &Caller, node: &XsPath) -> Result<()> {
    if nodes.exists(node)? {
        return check(nodes, caller, node, Need::Write);
    }
    create(nodes, caller, node, b"")?;
    nodes.note(format!("mkdir {node}"));
    Ok(())
}

fn create(nodes: &mut Nodes, caller: &Caller, node: &XsPath, value: &[u8]) -> Result<()> {
    // The missing nodes, deepest first, up to the nearest existing ancestor.
    let mut missing = vec![node.clone()];
    let mut ancestor = node.parent().unwrap_or_else(XsPath::root);
    while !nodes.exists(&ancestor)? {
        missing.push(ancestor.clone());
        ancestor = ancestor.parent().unwrap_or_else(XsPath::root);
    }
    check(nodes, caller, &ancestor, Need::Write)?;
    let mut perms = nodes.perms(&ancestor)?;
    for (i, n) in missing.iter().rev().enumerate() {
        perms = perms.inherited(caller.creator());
        let v: &[u8] = if i + 1 == missing.len() { value } else { b"" };
        nodes.set_value(n, v)?;
        nodes.set_perms(n, &perms)?;
    }
    Ok(())
}

/// Removes the node and everything below it. Removing a node that does not exist succeeds when
/// its parent exists (as in xenstored); the root cannot be removed.
pub fn rm(nodes: &mut Nodes, caller: &Caller, node: &XsPath) -> Result<()> {
    let parent = node.parent().ok_or(Errno::Inval)?;
    if !nodes.exists(node)? {
        return if nodes.exists(&parent)? {
            Ok(())
        } else {
            Err(Errno::NoEnt.into())
        };
    }
    check(nodes, caller, node, Need::Write)?;
    nodes.remove(node)?;
    nodes.note(format!("rm {node}"));
    Ok(())
}

/// Replaces the node's permissions; only its owner (or dom0) may, and only dom0 may give it
/// to another owner.
pub fn set_perms(nodes: &mut Nodes, caller: &Caller, node: &XsPath, perms: &Perms) -> Result<()> {
    existing(nodes, caller, node, Need::Owner)?;
    if !caller.privileged && nodes.perms(node)?.owner() != perms.owner() {
        return Err(Errno::Perm.into());
    }
    nodes.set_perms(node, perms)?;
    nodes.note(format!("set_perms {node} {}", perms.entries().join(",")));
    Ok(())
}
