//! The pure domain model: the cluster, its nodes, versions and what is observed of them.
//! Nothing here performs I/O.

pub mod cluster;
pub mod jsonpath;
pub mod observed;
pub mod quantity;
pub mod template;
pub mod version;

pub use cluster::*;
pub use jsonpath::{fill_json_path, json_path_vars};
pub use observed::*;
pub use quantity::{Quantity, QuantityError};
pub use template::{Template, TemplateError, shell_quote};
pub use version::{CompatRule, parse_loose};
