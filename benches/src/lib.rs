//! Shared corpora for tetsuo's benchmarks (`cargo bench -p tetsuo-benches`).

/// Realistic HTTP/1.1 requests: what a browser, an API client and a
/// cookie-heavy site send.
pub mod corpus {
    /// A browser navigation: GET with the ~10 headers Chrome sends.
    pub const BROWSER_GET: &[u8] = b"GET /articles/2026/11/http-parsing?ref=home HTTP/1.1\r\n\
Host: www.example.com\r\n\
Connection: keep-alive\r\n\
Upgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Dest: document\r\n\
Referer: https://www.example.com/\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-GB,en;q=0.9,de;q=0.8\r\n\
\r\n";

    /// A small JSON API call.
    pub const API_POST: &[u8] = b"POST /v1/orders HTTP/1.1\r\n\
Host: api.example.com\r\n\
Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NSJ9.c2lnbmF0dXJl\r\n\
Content-Type: application/json\r\n\
Content-Length: 41\r\n\
Accept: application/json\r\n\
User-Agent: reqwest/0.12\r\n\
\r\n";

    /// A request carrying a long cookie (analytics and session cookies).
    pub const LONG_COOKIE: &[u8] = b"GET /dashboard HTTP/1.1\r\n\
Host: app.example.com\r\n\
Accept: text/html\r\n\
Cookie: _ga=GA1.2.1234567890.1700000000; _gid=GA1.2.987654321.1700000000; session=s%3AaBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789aBcDeFgHiJkLmNoPqRsTuVwXyZ.0123456789abcdef0123456789abcdef0123456789abcdef; prefs=theme%3Ddark%26lang%3Den%26tz%3DEurope%252FLondon; _fbp=fb.1.1700000000000.1234567890; csrftoken=AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCdEfGhIjKlMnOpQrStUvWxYz01; ab_test=variant-b; consent=analytics%3Atrue%2Cmarketing%3Afalse\r\n\
User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15\r\n\
Accept-Language: en-US,en;q=0.9\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Connection: keep-alive\r\n\
\r\n";

    /// The corpus, named.
    pub const ALL: &[(&str, &[u8])] = &[
        ("browser_get", BROWSER_GET),
        ("api_post", API_POST),
        ("long_cookie", LONG_COOKIE),
    ];
}
