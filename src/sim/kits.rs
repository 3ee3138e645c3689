//! Versioned product kits shaped like the real ones, built at `sim up` from the script
//! templates in `assets/kits/` (embedded in the binary) with the version stamped in.
//!
//! Each kit is `D/kits/<product>-<version>.tar.gz` with one top-level `<product>/` directory, so
//! the seed's install step (`rm -rf <install_dir>/<product> && tar zxf <kit> -C <install_dir>`)
//! works unchanged. `lib/version` holds the version and `lib/engine` the absolute path of the
//! rollpilot binary whose hidden `sim node` command is the simulated product.

use super::error::{SimError, io_err};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// One file of a kit: path inside the product directory, template text, executable or not.
type KitFile = (&'static str, &'static str, bool);

const TERRACOTTA: &[KitFile] = &[
    ("README.txt", include_str!("../../assets/kits/terracotta/README.txt"), false),
    ("server/bin/start-tc-server.sh", include_str!("../../assets/kits/terracotta/server/bin/start-tc-server.sh"), true),
    ("server/bin/stop-tc-server.sh", include_str!("../../assets/kits/terracotta/server/bin/stop-tc-server.sh"), true),
    ("server/bin/server-stat.sh", include_str!("../../assets/kits/terracotta/server/bin/server-stat.sh"), true),
    ("server/bin/version.sh", include_str!("../../assets/kits/terracotta/server/bin/version.sh"), true),
    ("server/bin/start-wan.sh", include_str!("../../assets/kits/terracotta/server/bin/start-wan.sh"), true),
    ("server/bin/stop-wan.sh", include_str!("../../assets/kits/terracotta/server/bin/stop-wan.sh"), true),
    ("server/bin/wan-status.sh", include_str!("../../assets/kits/terracotta/server/bin/wan-status.sh"), true),
    ("client/bin/start-client.sh", include_str!("../../assets/kits/terracotta/client/bin/start-client.sh"), true),
    ("client/bin/stop-client.sh", include_str!("../../assets/kits/terracotta/client/bin/stop-client.sh"), true),
    ("client/bin/client-status.sh", include_str!("../../assets/kits/terracotta/client/bin/client-status.sh"), true),
    ("client/bin/version.sh", include_str!("../../assets/kits/terracotta/client/bin/version.sh"), true),
];

const STREAMBASE: &[KitFile] = &[
    ("README.txt", include_str!("../../assets/kits/streambase/README.txt"), false),
    ("bin/epadmin", include_str!("../../assets/kits/streambase/bin/epadmin"), true),
];

const EXCHANGE: &[KitFile] = &[
    ("README.txt", include_str!("../../assets/kits/exchange/README.txt"), false),
    ("bin/version.sh", include_str!("../../assets/kits/exchange/bin/version.sh"), true),
    ("bin/cluster-status.sh", include_str!("../../assets/kits/exchange/bin/cluster-status.sh"), true),
    ("bin/cluster-move.sh", include_str!("../../assets/kits/exchange/bin/cluster-move.sh"), true),
    ("bin/cluster-node.sh", include_str!("../../assets/kits/exchange/bin/cluster-node.sh"), true),
    ("bin/cluster-offline.sh", include_str!("../../assets/kits/exchange/bin/cluster-offline.sh"), true),
    ("bin/cluster-online.sh", include_str!("../../assets/kits/exchange/bin/cluster-online.sh"), true),
];

const JSONDB: &[KitFile] = &[
    ("README.txt", include_str!("../../assets/kits/jsondb/README.txt"), false),
    ("bin/jsondb-server", include_str!("../../assets/kits/jsondb/bin/jsondb-server"), true),
    ("bin/jsondb-stop", include_str!("../../assets/kits/jsondb/bin/jsondb-stop"), true),
    ("bin/jsondb-version", include_str!("../../assets/kits/jsondb/bin/jsondb-version"), true),
];

const SCANNER: &[KitFile] = &[
    ("README.txt", include_str!("../../assets/kits/scanner/README.txt"), false),
    ("bin/version.sh", include_str!("../../assets/kits/scanner/bin/version.sh"), true),
];

/// A simulated product: its tarball prefix, display name, kit files and known versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Product {
    /// Tarball prefix and top-level directory.
    pub dir: &'static str,
    /// What version probes print before the version.
    pub display: &'static str,
    /// Versions the simulator ships kits for.
    pub versions: &'static [&'static str],
    files: &'static [KitFile],
}

/// Terracotta / BigMemory Max (seeds 000/001).
pub const TERRACOTTA_KIT: Product = Product {
    dir: "terracotta",
    display: "Terracotta Enterprise",
    versions: &["4.1.0", "4.2.0", "4.2.1", "4.3.0"],
    files: TERRACOTTA,
};

/// TIBCO StreamBase (seed 002).
pub const STREAMBASE_KIT: Product = Product {
    dir: "streambase",
    display: "TIBCO StreamBase Runtime",
    versions: &["10.5.0", "10.6.0", "10.6.1"],
    files: STREAMBASE,
};

/// Exchange 2003 (seed 003): SP1 is 6.5.7226, SP2 is 6.5.7638.
pub const EXCHANGE_KIT: Product = Product {
    dir: "exchange",
    display: "Microsoft Exchange Server 2003",
    versions: &["6.5.7226", "6.5.7638"],
    files: EXCHANGE,
};

/// The jsondb replicated database: a JSON status API over HTTP, lag in bytes, finalize.
pub const JSONDB_KIT: Product =
    Product { dir: "jsondb", display: "JsonDB Server", versions: &["3.1.4", "3.2.0", "3.2.1"], files: JSONDB };

/// The virus scanner of the Exchange nodes (seed 003: no rolling upgrade).
pub const SCANNER_KIT: Product =
    Product { dir: "scanner", display: "Scanner engine", versions: &["8.0.0", "8.1.0"], files: SCANNER };

/// The tarball name of a product version.
pub fn tarball_name(product: &Product, version: &str) -> String {
    format!("{}-{version}.tar.gz", product.dir)
}

/// The tarball name of a product directory name and version.
pub fn tarball_name_str(product_dir: &str, version: &str) -> String {
    format!("{product_dir}-{version}.tar.gz")
}

/// Builds `<out_dir>/<product>-<version>.tar.gz` for each version, with the system `tar`.
pub fn build(product: &Product, versions: &[String], engine: &Path, out_dir: &Path) -> Result<Vec<PathBuf>, SimError> {
    let staging_root = out_dir.join(".staging");
    let mut built = Vec::new();
    for version in versions {
        let staging = staging_root.join(format!("{}-{version}", product.dir));
        let top = staging.join(product.dir);
        if staging.exists() {
            std::fs::remove_dir_all(&staging).map_err(io_err(format!("cannot clear {}", staging.display())))?;
        }
        for (rel, text, exec) in product.files {
            let path = top.join(rel);
            if let Some(d) = path.parent() {
                std::fs::create_dir_all(d).map_err(io_err(format!("cannot create {}", d.display())))?;
            }
            let body = text.replace("@VERSION@", version).replace("@PRODUCT@", product.display);
            std::fs::write(&path, body).map_err(io_err(format!("cannot write {}", path.display())))?;
            set_mode(&path, if *exec { 0o755 } else { 0o644 })?;
        }
        let lib = top.join("lib");
        std::fs::create_dir_all(&lib).map_err(io_err(format!("cannot create {}", lib.display())))?;
        std::fs::write(lib.join("version"), format!("{version}\n"))
            .map_err(io_err(format!("cannot write {}", lib.join("version").display())))?;
        std::fs::write(lib.join("engine"), engine.to_string_lossy().as_bytes())
            .map_err(io_err(format!("cannot write {}", lib.join("engine").display())))?;
        let tarball = out_dir.join(tarball_name(product, version));
        let out = Command::new("tar")
            .arg("czf")
            .arg(&tarball)
            .arg("-C")
            .arg(&staging)
            .arg(product.dir)
            .stdin(Stdio::null())
            .output()
            .map_err(io_err("cannot run tar to build the kits (is tar installed?)"))?;
        if !out.status.success() {
            return Err(SimError::Failed(format!(
                "tar could not build {}: {}",
                tarball.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        built.push(tarball);
    }
    let _ = std::fs::remove_dir_all(&staging_root);
    Ok(built)
}

fn set_mode(path: &Path, mode: u32) -> Result<(), SimError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io_err(format!("cannot set permissions of {}", path.display())))
}

/// Gives a node its own copy of the kits (hard links when possible, so faults that replace a
/// node's tarball never touch the others').
pub fn link_into(tarballs: &[PathBuf], kit_dir: &Path) -> Result<(), SimError> {
    std::fs::create_dir_all(kit_dir).map_err(io_err(format!("cannot create {}", kit_dir.display())))?;
    for t in tarballs {
        let Some(name) = t.file_name() else { continue };
        let dest = kit_dir.join(name);
        if dest.exists() {
            continue;
        }
        if std::fs::hard_link(t, &dest).is_err() {
            std::fs::copy(t, &dest).map_err(io_err(format!("cannot copy {} to {}", t.display(), dest.display())))?;
        }
    }
    Ok(())
}

/// The version of the kit a `--kit` directory holds.
pub fn kit_version(kit_home: &Path) -> Result<String, SimError> {
    let p = kit_home.join("lib").join("version");
    let v = std::fs::read_to_string(&p)
        .map_err(io_err(format!("cannot read the kit version {} (is the kit installed?)", p.display())))?;
    let v = v.trim().to_string();
    if v.is_empty() {
        return Err(SimError::Failed(format!("{} is empty; reinstall the kit", p.display())));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_names_its_product_and_version() {
        for p in [TERRACOTTA_KIT, STREAMBASE_KIT, EXCHANGE_KIT, SCANNER_KIT, JSONDB_KIT] {
            for (rel, text, _) in p.files {
                if rel.ends_with(".txt") {
                    continue;
                }
                assert!(text.starts_with("#!/bin/sh\n"), "{}/{rel} is not a POSIX sh script", p.dir);
                assert!(text.contains("@VERSION@"), "{}/{rel} does not stamp the version", p.dir);
                assert!(!text.contains("read "), "{}/{rel} must not read stdin", p.dir);
            }
        }
    }
}
