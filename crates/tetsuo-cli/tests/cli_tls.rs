//! `tetsuo echo --tls` and `tetsuo connect --tls`.

mod support;

use support::{Server, connect};

/// The pin a server printed for its generated certificate.
fn printed_pin(server: &Server) -> String {
    let line = server
        .banner
        .iter()
        .find(|l| l.contains("pin sha256/"))
        .expect("no pin printed");
    line.rsplit(' ').next().unwrap().to_owned()
}

#[test]
fn generated_certificate_is_trusted_by_its_printed_pin() {
    let server = Server::start(&["echo", "--tls", "--listen", "127.0.0.1:0", "--alpn", "h2"]);
    assert!(server.endpoint.starts_with("tls://"), "{}", server.endpoint);
    let pin = printed_pin(&server);
    let target = server.addr().to_string();

    let out = connect(
        &[
            "--tls",
            "--insecure",
            "--pin",
            &pin,
            "--alpn",
            "h2",
            "-v",
            &target,
        ],
        b"secret",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"secret");
    let story = String::from_utf8(out.stderr).unwrap();
    assert!(story.contains("* TLS TLSv1.3 TLS13_"), "{story}");
    assert!(story.contains("ALPN h2"), "{story}");

    // Without the pin, nothing vouches for a self-signed certificate.
    let out = connect(&["--tls", &target], b"x");
    assert_eq!(out.status.code(), Some(60));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        err,
        "tetsuo: TLS handshake with 127.0.0.1: certificate issuer is unknown (untrusted)\n"
    );

    // A pin of some other key is refused, with curl's exit code.
    let other = "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=";
    let out = connect(&["--tls", "--insecure", "--pin", other, &target], b"x");
    assert_eq!(out.status.code(), Some(90));
}

#[test]
fn malformed_pin_is_a_usage_error() {
    let out = connect(&["--tls", "--pin", "sha1/nope", "127.0.0.1:9"], b"");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("expected sha256/BASE64"), "{err}");
}

#[test]
fn mutual_tls_through_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    // A client CA and a client certificate it issued.
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
    let mut client_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client_key = rcgen::KeyPair::generate().unwrap();
    let client = client_params.signed_by(&client_key, &issuer).unwrap();
    let ca_pem = write("ca.pem", ca.pem());
    let cert = write("client.pem", client.pem());
    let key = write("client.key", client_key.serialize_pem());

    let server = Server::start(&[
        "echo",
        "--tls",
        "--listen",
        "127.0.0.1:0",
        "--cacert",
        &ca_pem,
    ]);
    let pin = printed_pin(&server);
    let target = server.addr().to_string();
    let base = ["--tls", "--insecure", "--pin", pin.as_str()];

    let with_cert = [&base[..], &["--cert", &cert, "--key", &key, &target]].concat();
    let out = connect(&with_cert, b"mtls");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"mtls");

    let without = [&base[..], &[target.as_str()]].concat();
    let out = connect(&without, b"x");
    assert_eq!(out.status.code(), Some(35));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.ends_with(": client certificate required\n"), "{err}");
}
