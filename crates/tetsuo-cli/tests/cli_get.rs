//! `tetsuo get` as a user runs it, against `tetsuo serve`.

mod support;

use std::process::Command;

use support::{BIN, Server};

fn get(args: &[&str]) -> std::process::Output {
    Command::new(BIN).arg("get").args(args).output().unwrap()
}

#[test]
fn get_fetches_posts_and_reports_like_curl() {
    let server = Server::start(&["serve", "--listen", "127.0.0.1:0"]);
    let base = server.endpoint.clone();

    let out = get(&[&format!("{base}/hello")]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"Hello, World!");

    let out = get(&["-d", "posted data", &format!("{base}/echo")]);
    assert_eq!(out.stdout, b"posted data");

    let out = get(&["-i", &format!("{base}/hello")]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\nHello, World!"), "{text}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.txt");
    let out = get(&["-o", file.to_str().unwrap(), &format!("{base}/hello")]);
    assert!(out.status.success());
    assert_eq!(std::fs::read(&file).unwrap(), b"Hello, World!");

    // 404: success without --fail (like curl), 22 with it.
    assert!(get(&[&format!("{base}/missing")]).status.success());
    let out = get(&["--fail", &format!("{base}/missing")]);
    assert_eq!(out.status.code(), Some(22));
    assert!(String::from_utf8_lossy(&out.stderr).contains("404"));
}

#[test]
fn get_exit_codes_for_transport_failures() {
    // Nothing listens on port 1.
    let out = get(&["--connect-timeout", "5", "http://127.0.0.1:1/"]);
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    let out = get(&["ftp://127.0.0.1/"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("http:// and https://"));
}

#[test]
fn get_through_tetsuo_socks_with_resolve_and_the_story() {
    let server = Server::start(&["serve", "--listen", "127.0.0.1:0"]);
    let port = server.addr().port();
    let socks = Server::start(&["socks", "--listen", "127.0.0.1:0", "--auth", "u:p"]);
    let proxy = socks.endpoint.replace("socks5://", "socks5h://u:p@");

    let out = get(&[
        "-v",
        "--proxy",
        &proxy,
        &format!("http://localhost:{port}/hello"),
    ]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"Hello, World!");
    let story = String::from_utf8_lossy(&out.stderr);
    assert!(story.contains("tunnel through socks5h://u:***@"), "{story}");
    assert!(!story.contains("u:p@"), "{story}");

    // A wrong password: the proxy's refusal, exit 97 as curl.
    let bad = socks.endpoint.replace("socks5://", "socks5h://u:wrong@");
    let out = get(&["--proxy", &bad, &format!("http://localhost:{port}/hello")]);
    assert_eq!(out.status.code(), Some(97), "{out:?}");

    // --resolve pins a made-up name to ::1 (nothing there) and 127.0.0.1:
    // both are raced and the story shows each attempt.
    let pin = format!("app.test:{port}:[::1],127.0.0.1");
    let out = get(&[
        "-v",
        "--noproxy",
        "*",
        "--resolve",
        &pin,
        &format!("http://app.test:{port}/hello"),
    ]);
    assert!(out.status.success(), "{out:?}");
    let story = String::from_utf8_lossy(&out.stderr);
    assert!(story.contains(&format!("attempt [::1]:{port}")), "{story}");
    assert!(
        story.contains(&format!("attempt 127.0.0.1:{port} at")),
        "{story}"
    );
    assert!(
        story.contains(&format!("connected to 127.0.0.1:{port}")),
        "{story}"
    );
}
