//! Where the write-ahead journal is not built (it relies on Linux's `syncfs` and boot id):
//! durable writes sync each file they make.

use std::path::Path;
use std::sync::Arc;

use super::{GitObjects, GitRefs};
use crate::backend::Result;
use crate::object::{HashKind, ObjectId};

/// The journal's file name in the Git directory (never made here).
pub const FILE_NAME: &str = "canopy-journal";

/// No pack is journaled.
pub const MAX_JOURNALED_PACK: usize = 0;

/// A journal this process never owns.
#[derive(Debug)]
pub struct Journal;

impl Journal {
    pub fn open(
        _git_dir: &Path,
        _hash: HashKind,
        _objects: &GitObjects,
        _refs: &GitRefs,
    ) -> Result<Arc<Journal>> {
        Ok(Arc::new(Journal))
    }

    pub fn is_owned(&self) -> bool {
        false
    }

    pub fn append_pack(&self, _stem: &str, _idx: &[u8], _pack: &[u8]) -> Result<()> {
        Ok(())
    }

    pub fn append_ref(&self, _name: &str, _old: Option<ObjectId>, _new: Option<ObjectId>) -> Result<()> {
        Ok(())
    }

    pub fn sync(&self) -> Result<()> {
        Ok(())
    }

    pub fn checkpoint(&self) -> Result<()> {
        Ok(())
    }
}
