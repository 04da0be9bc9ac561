//! Three-way merge: lowest common ancestors, tree merge, and value drivers.
//! (Temporary module index; the drivers and attributes below are placeholders until the real
//! driver module lands.)

pub mod lca;
pub mod tree;

pub mod attributes {
    /// Placeholder: no attribute rules.
    pub struct Attributes;
    impl Attributes {
        pub fn parse(_text: &[u8]) -> Attributes {
            Attributes
        }
        pub fn merge_driver(&self, _path: &[u8]) -> Option<String> {
            None
        }
    }
}

pub mod drivers {
    pub struct Conflict {
        pub reason: String,
    }
    pub struct MergeContext {
        pub path: String,
        pub ours: Option<(i64, String)>,
        pub theirs: Option<(i64, String)>,
    }
    pub struct Drivers;
    impl Drivers {
        pub fn builtin() -> Drivers {
            Drivers
        }
        /// Binary rules for every driver name.
        pub fn merge(
            &self,
            _name: &str,
            _ctx: &MergeContext,
            base: Option<&[u8]>,
            ours: Option<&[u8]>,
            theirs: Option<&[u8]>,
        ) -> Result<Option<Vec<u8>>, Conflict> {
            if ours == theirs || base == theirs {
                Ok(ours.map(<[u8]>::to_vec))
            } else if base == ours {
                Ok(theirs.map(<[u8]>::to_vec))
            } else {
                Err(Conflict {
                    reason: "changed on both sides".into(),
                })
            }
        }
    }
}
