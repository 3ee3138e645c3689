//! Reading a child's output without letting a chatty command exhaust memory.

use tokio::io::{AsyncRead, AsyncReadExt};

/// Reads `r` to EOF, keeping at most `max` bytes; the rest is read and discarded so the writer
/// never blocks. Returns the kept bytes and whether anything was dropped.
pub async fn read_bounded<R: AsyncRead + Unpin>(mut r: R, max: usize) -> std::io::Result<(Vec<u8>, bool)> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    let mut truncated = false;
    loop {
        let n = r.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let room = max.saturating_sub(kept.len());
        if room > 0 {
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        if n > room {
            truncated = true;
        }
    }
    Ok((kept, truncated))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_the_head_and_flags_truncation() {
        let data = vec![b'x'; 20_000];
        let (kept, t) = read_bounded(&data[..], 100).await.unwrap();
        assert_eq!(kept.len(), 100);
        assert!(t);
        let (kept, t) = read_bounded(&b"short"[..], 100).await.unwrap();
        assert_eq!(kept, b"short");
        assert!(!t);
    }
}
