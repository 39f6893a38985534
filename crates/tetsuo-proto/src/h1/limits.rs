//! Size and count limits applied while parsing.

/// Limits on what a peer may send. Every one has a safe default; exceeding
/// one is an [`Error`](super::Error) with the matching status (414, 431, 413).
///
/// ```
/// let mut limits = tetsuo_proto::h1::Limits::default();
/// limits.max_headers = 64;
/// limits.max_body = Some(10 << 20);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Longest request line or status line, CRLF excluded (default 8 KiB;
    /// 414 for requests).
    pub max_start_line: usize,
    /// Most field lines in a head (default 100; 431).
    pub max_headers: usize,
    /// Largest head, start line to the empty line, leading empty lines
    /// included (default 64 KiB; 431).
    pub max_head: usize,
    /// Longest single field line (default 16 KiB; 431).
    pub max_field: usize,
    /// Most chunk-extension bytes in one body (default 4 KiB; 400).
    pub max_chunk_ext: usize,
    /// Largest body, if limited (default none; 413).
    pub max_body: Option<u64>,
    /// Largest trailer section (default 16 KiB; 431).
    pub max_trailers: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_start_line: 8 * 1024,
            max_headers: 100,
            max_head: 64 * 1024,
            max_field: 16 * 1024,
            max_chunk_ext: 4 * 1024,
            max_body: None,
            max_trailers: 16 * 1024,
        }
    }
}
