//! Helpers shared by the CLI tests: run `tetsuo` as a user does.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test file uses a different subset"
)]

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_tetsuo");

/// A running `tetsuo` server, killed when dropped.
pub struct Server {
    pub child: Child,
    /// What it printed as its listening address (after "listening on ").
    pub endpoint: String,
    /// Every line printed before the listening line.
    pub banner: Vec<String>,
}

impl Server {
    pub fn start(args: &[&str]) -> Server {
        Server::start_with_env(args, &[])
    }

    /// [`Server::start`] with these environment variables set.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(BIN)
            .args(args)
            // What the tests check must not depend on the caller's
            // environment.
            .env_remove("OTEL_SERVICE_NAME")
            .env_remove("OTEL_RESOURCE_ATTRIBUTES")
            .env_remove("http_proxy")
            .env_remove("HTTP_PROXY")
            .env_remove("all_proxy")
            .env_remove("ALL_PROXY")
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut endpoint = None;
        let mut banner = Vec::new();
        let mut line = String::new();
        while endpoint.is_none() && stderr.read_line(&mut line).unwrap() > 0 {
            endpoint = line
                .trim_end()
                .split("listening on ")
                .nth(1)
                .map(str::to_owned);
            banner.push(line.trim_end().to_owned());
            line.clear();
        }
        let endpoint = endpoint.expect("server never said where it listens");
        // Keep draining stderr so the server never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Server {
            child,
            endpoint,
            banner,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        let (_, addr) = self.endpoint.split_once("://").unwrap();
        addr.parse().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn connect(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(BIN)
        .arg("connect")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}
