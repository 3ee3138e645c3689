//! The key-value store inside every simulated server: a map, optionally backed by an
//! append-only file (one JSON `[key, value]` per line) so that a persistent node keeps its data
//! across restarts, with an order-independent digest for comparing replicas.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

/// A replica's data.
#[derive(Debug, Default)]
pub struct Store {
    map: BTreeMap<String, String>,
    file: Option<std::fs::File>,
    path: Option<PathBuf>,
    digest: u64,
}

fn entry_hash(k: &str, v: &str) -> u64 {
    // FNV-1a: stable across processes and versions, unlike the std hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in k.bytes().chain([0u8]).chain(v.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Store {
    /// A store that lives only in memory (a non-persistent server).
    pub fn memory() -> Store {
        Store::default()
    }

    /// Opens (creating if needed) a store backed by `path`, loading what it holds. A torn last
    /// line (the process was killed mid-write) is ignored.
    pub fn open(path: &Path) -> std::io::Result<Store> {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d)?;
        }
        let mut s = Store::memory();
        if let Ok(f) = std::fs::File::open(path) {
            for line in BufReader::new(f).lines() {
                let line = line?;
                if let Ok((k, v)) = serde_json::from_str::<(String, String)>(&line) {
                    s.insert_mem(k, v);
                }
            }
        }
        s.file = Some(std::fs::OpenOptions::new().create(true).append(true).open(path)?);
        s.path = Some(path.to_path_buf());
        Ok(s)
    }

    fn insert_mem(&mut self, k: String, v: String) -> bool {
        let h = entry_hash(&k, &v);
        match self.map.insert(k.clone(), v) {
            Some(old) => {
                self.digest = self.digest.wrapping_sub(entry_hash(&k, &old)).wrapping_add(h);
                false
            }
            None => {
                self.digest = self.digest.wrapping_add(h);
                true
            }
        }
    }

    /// Stores a value (written to the file before returning, when persistent).
    pub fn put(&mut self, k: &str, v: &str) -> std::io::Result<()> {
        if self.map.get(k).map(String::as_str) == Some(v) {
            return Ok(());
        }
        if let Some(f) = self.file.as_mut() {
            let mut line = serde_json::to_string(&(k, v)).map_err(std::io::Error::other)?;
            line.push('\n');
            f.write_all(line.as_bytes())?;
            f.flush()?;
        }
        self.insert_mem(k.to_string(), v.to_string());
        Ok(())
    }

    /// Reads a value.
    pub fn get(&self, k: &str) -> Option<String> {
        self.map.get(k).cloned()
    }

    /// Every entry, in key order.
    pub fn entries(&self) -> Vec<(String, String)> {
        self.map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    }

    /// Number of entries.
    pub fn len(&self) -> u64 {
        self.map.len() as u64
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Count and digest: equal digests mean equal contents (with overwhelming likelihood).
    pub fn digest(&self) -> (u64, u64) {
        (self.len(), self.digest)
    }

    /// Replaces everything (a passive receiving a snapshot); rewrites the file when persistent.
    pub fn replace_all(&mut self, entries: Vec<(String, String)>) -> std::io::Result<()> {
        self.map.clear();
        self.digest = 0;
        for (k, v) in entries {
            self.insert_mem(k, v);
        }
        if let Some(path) = self.path.clone() {
            let tmp = path.with_extension("rewrite");
            {
                let mut f = std::fs::File::create(&tmp)?;
                let mut buf = String::new();
                for (k, v) in &self.map {
                    buf.push_str(&serde_json::to_string(&(k, v)).map_err(std::io::Error::other)?);
                    buf.push('\n');
                }
                f.write_all(buf.as_bytes())?;
                f.flush()?;
            }
            std::fs::rename(&tmp, &path)?;
            self.file = Some(std::fs::OpenOptions::new().append(true).open(&path)?);
        }
        Ok(())
    }

    /// Adds entries it does not have (StreamBase merge); returns how many were new.
    pub fn merge(&mut self, entries: Vec<(String, String)>) -> std::io::Result<usize> {
        let mut n = 0;
        for (k, v) in entries {
            if !self.map.contains_key(&k) {
                self.put(&k, &v)?;
                n += 1;
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_and_digests() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.jsonl");
        let mut s = Store::open(&p).unwrap();
        s.put("a", "1").unwrap();
        s.put("b", "2").unwrap();
        let dg = s.digest();
        drop(s);
        let mut s = Store::open(&p).unwrap();
        assert_eq!(s.get("a").as_deref(), Some("1"));
        assert_eq!(s.digest(), dg);
        let mut m = Store::memory();
        m.put("b", "2").unwrap();
        m.put("a", "1").unwrap();
        assert_eq!(m.digest(), dg, "digest ignores order");
        s.replace_all(vec![("c".into(), "3".into())]).unwrap();
        drop(s);
        let s = Store::open(&p).unwrap();
        assert_eq!(s.entries(), vec![("c".to_string(), "3".to_string())]);
    }
}
