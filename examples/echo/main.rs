//! Echo servers over TCP, TLS, UDP and Unix sockets: whatever a client
//! sends comes back.
//!
//! ```sh
//! cargo run --example echo -- tcp 127.0.0.1:7000      # then: nc 127.0.0.1 7000
//! cargo run --example echo -- tls 127.0.0.1:7443      # self-signed; or add CERT.pem KEY.pem
//! cargo run --example echo -- udp 127.0.0.1:7000      # then: nc -u 127.0.0.1 7000
//! cargo run --example echo -- unix /tmp/echo.sock     # then: nc -U /tmp/echo.sock
//! ```
//!
//! Each prints `listening on ...` once it is ready and runs until Ctrl-C.
//! Without a certificate, `tls` makes a self-signed one for `localhost` and
//! prints where its PEM file is, so that `openssl s_client -CAfile` or
//! `curl --cacert` can check it.

use std::net::SocketAddr;
use std::time::Duration;

use tetsuo::net::{Keepalive, TcpListenerBuilder, UdpBuilder, UnixAddr, unix};
use tetsuo::tls::{Identity, TlsAcceptor};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, addr) = match args.as_slice() {
        [mode, addr, ..] => (mode.as_str(), addr.as_str()),
        _ => return Err("usage: echo tcp|tls|udp|unix ADDRESS [CERT.pem KEY.pem]".into()),
    };
    let server = async {
        match mode {
            "tcp" => tcp(addr.parse()?, None).await,
            "tls" => tcp(addr.parse()?, Some(acceptor(&args[2..])?)).await,
            "udp" => udp(addr.parse()?).await,
            "unix" => unix_stream(addr).await,
            other => Err(format!("unknown mode {other}: tcp, tls, udp or unix").into()),
        }
    };
    tokio::select! {
        result = server => result,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}

/// TCP, or TLS over it: one task per connection.
async fn tcp(addr: SocketAddr, tls: Option<TlsAcceptor>) -> Result<(), Error> {
    let listener = TcpListenerBuilder::new(addr)
        .nodelay(true)
        .keepalive(Keepalive::new().idle(Duration::from_secs(60)))
        .bind()?;
    let scheme = if tls.is_some() { "tls" } else { "tcp" };
    println!("listening on {scheme}://{}", listener.local_addr()?);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of descriptors, or reset before accept: pause, go on.
            Err(e) => {
                eprintln!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let tls = tls.clone();
        tokio::spawn(async move {
            let result = match tls {
                None => echo(stream).await,
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => echo(stream).await,
                    Err(e) => Err(e.into()),
                },
            };
            if let Err(e) = result {
                eprintln!("{peer}: {e}");
            }
        });
    }
}

/// Copies everything back until the client half-closes, then closes.
async fn echo(mut stream: impl AsyncRead + AsyncWrite + Unpin) -> Result<(), Error> {
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            stream.shutdown().await?;
            return Ok(());
        }
        stream.write_all(&buf[..n]).await?;
    }
}

/// Each datagram goes back to whoever sent it.
async fn udp(addr: SocketAddr) -> Result<(), Error> {
    let socket = UdpBuilder::new(addr).bind()?;
    println!("listening on udp://{}", socket.local_addr()?);
    let mut buf = vec![0; 65536];
    loop {
        let (n, from) = socket.recv_from(&mut buf).await?;
        // A peer that went away (ICMP unreachable) must not stop the server.
        if let Err(e) = socket.send_to(&buf[..n], from).await {
            eprintln!("send to {from}: {e}");
        }
    }
}

/// A Unix stream socket: a path, or `@name` for a Linux abstract name.
async fn unix_stream(spec: &str) -> Result<(), Error> {
    let addr: UnixAddr = spec.parse()?;
    if let UnixAddr::Path(path) = &addr {
        // A socket file left by an earlier run would make bind fail.
        let _ = std::fs::remove_file(path);
    }
    let listener = unix::bind(&addr)?;
    println!("listening on unix:{spec}");
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                eprintln!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        tokio::spawn(async move {
            if let Err(e) = echo(stream).await {
                eprintln!("unix peer: {e}");
            }
        });
    }
}

/// The TLS side: the certificate and key given, or a fresh self-signed pair.
fn acceptor(files: &[String]) -> Result<TlsAcceptor, Error> {
    let identity = match files {
        [cert, key, ..] => Identity::from_pem_files(cert, key)?,
        _ => {
            let pair =
                rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])?;
            let pem = std::env::temp_dir().join(format!("echo-{}.pem", std::process::id()));
            std::fs::write(&pem, pair.cert.pem())?;
            println!("self-signed certificate for localhost: {}", pem.display());
            Identity::from_pem(
                pair.cert.pem().as_bytes(),
                pair.signing_key.serialize_pem().as_bytes(),
            )?
        }
    };
    Ok(TlsAcceptor::builder().identity(identity).build()?)
}
