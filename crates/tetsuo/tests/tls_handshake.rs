//! TLS client against TLS server over loopback TCP, with run-time PKIs:
//! chains, every error cause, SNI, ALPN, mTLS, pinning, resumption, OCSP,
//! hot reload.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use tetsuo::TlsCause;
use tetsuo::net::{TcpConnector, TcpListenerBuilder};
use tetsuo::tls::{
    ClientAuth, Pin, TlsAcceptor, TlsAcceptorBuilder, TlsConnector, TlsConnectorBuilder, TlsInfo,
    TlsStream, Version,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use support::pki::{Ca, Leaf, Validity};

/// Accepts `n` connections; each answers one line "ok" then closes. Returns
/// the address and the server-side outcome of each handshake.
async fn serve(
    acceptor: TlsAcceptor,
    n: usize,
) -> (SocketAddr, JoinHandle<Vec<tetsuo::Result<TlsInfo>>>) {
    let listener = TcpListenerBuilder::new("127.0.0.1:0".parse().unwrap())
        .bind()
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let mut outcomes = Vec::new();
        for _ in 0..n {
            let (tcp, _) = listener.accept().await.unwrap();
            match acceptor.accept(tcp).await {
                Ok(mut tls) => {
                    let info = tls.info().clone();
                    let _ = tls.write_all(b"ok\n").await;
                    let _ = tls.shutdown().await;
                    outcomes.push(Ok(info));
                }
                Err(e) => outcomes.push(Err(e)),
            }
        }
        outcomes
    });
    (addr, task)
}

async fn dial(
    connector: &TlsConnector,
    name: &str,
    addr: SocketAddr,
) -> tetsuo::Result<TlsStream<TcpStream>> {
    let tcp = TcpConnector::new().connect(addr).await?;
    connector.connect(name, tcp).await
}

/// Connects, reads the server's "ok", and returns the client's view.
async fn handshake(
    connector: &TlsConnector,
    name: &str,
    addr: SocketAddr,
) -> tetsuo::Result<TlsInfo> {
    let mut tls = dial(connector, name, addr).await?;
    let mut text = String::new();
    // In TLS 1.3 a server's verdict on the client certificate arrives after
    // the client's handshake is done: on the first read.
    tls.read_to_string(&mut text).await?;
    assert_eq!(text, "ok\n");
    Ok(tls.info().clone())
}

fn trusting(ca: &Ca) -> TlsConnectorBuilder {
    TlsConnector::builder()
        .webpki_roots(false)
        .add_ca_der(ca.der())
}

fn presenting(leaf: &Leaf) -> TlsAcceptorBuilder {
    TlsAcceptor::builder().identity(leaf.identity())
}

/// One handshake: the client's result and the server's.
async fn one(
    server: TlsAcceptorBuilder,
    client: TlsConnectorBuilder,
    name: &str,
) -> (tetsuo::Result<TlsInfo>, tetsuo::Result<TlsInfo>) {
    let (addr, task) = serve(server.build().unwrap(), 1).await;
    let client = client.build().unwrap();
    let client_result = handshake(&client, name, addr).await;
    let mut server_results = task.await.unwrap();
    (client_result, server_results.pop().unwrap())
}

fn cause(result: tetsuo::Result<TlsInfo>) -> Option<TlsCause> {
    let err = result.expect_err("handshake should have failed");
    assert!(err.is_tls(), "{err:?}");
    err.tls_cause()
}

#[tokio::test]
async fn chain_through_an_intermediate_verifies() {
    let root = Ca::root("Test Root");
    let intermediate = root.intermediate("Test Intermediate");
    let leaf = intermediate.server(&["localhost"], Validity::Current);
    let (client, server) = one(presenting(&leaf), trusting(&root), "localhost").await;
    let client = client.unwrap();
    let server = server.unwrap();
    assert_eq!(client.version(), Version::Tls13);
    assert!(
        client.cipher_suite().starts_with("TLS13_"),
        "{}",
        client.cipher_suite()
    );
    assert_eq!(client.server_name(), Some("localhost"));
    assert_eq!(server.server_name(), Some("localhost"));
    assert_eq!(
        client.peer_certificates(),
        &[leaf.der(), intermediate.der()]
    );
    assert!(!client.is_resumed());
    assert!(server.peer_certificates().is_empty());
}

#[tokio::test]
async fn ip_address_names_verify_without_sni() {
    let ca = Ca::root("Test Root");
    let leaf = ca.server(&["127.0.0.1"], Validity::Current);
    let (client, server) = one(presenting(&leaf), trusting(&ca), "127.0.0.1").await;
    assert_eq!(client.unwrap().server_name(), Some("127.0.0.1"));
    // No SNI goes out for an IP address.
    assert_eq!(server.unwrap().server_name(), None);
}

#[tokio::test]
async fn certificate_errors_have_distinct_causes() {
    let ca = Ca::root("Test Root");
    let other = Ca::root("Other Root");
    let cases = [
        (
            ca.server(&["localhost"], Validity::Expired),
            &ca,
            "localhost",
            TlsCause::Expired,
        ),
        (
            ca.server(&["localhost"], Validity::NotYetValid),
            &ca,
            "localhost",
            TlsCause::NotYetValid,
        ),
        (
            other.server(&["localhost"], Validity::Current),
            &ca,
            "localhost",
            TlsCause::UnknownIssuer,
        ),
        (
            ca.server(&["localhost"], Validity::Current),
            &ca,
            "elsewhere.test",
            TlsCause::NameMismatch,
        ),
    ];
    for (leaf, trusted, name, expected) in cases {
        let (client, server) = one(presenting(&leaf), trusting(trusted), name).await;
        let err = client.unwrap_err();
        assert_eq!(err.tls_cause(), Some(expected), "{err}");
        assert!(!err.is_retryable());
        assert!(
            err.to_string()
                .starts_with(&format!("TLS handshake with {name}: ")),
            "{err}"
        );
        // The server learns only that the client gave up.
        assert!(server.is_err());
    }
}

#[tokio::test]
async fn pinning_accepts_the_right_key_and_rejects_others() {
    let ca = Ca::root("Test Root");
    let leaf = ca.server(&["localhost"], Validity::Current);
    let right = Pin::of_certificate(&leaf.der()).unwrap();
    let wrong = Pin::of_certificate(&ca.der()).unwrap();

    let (client, _) = one(
        presenting(&leaf),
        trusting(&ca).pin(wrong).pin(right),
        "localhost",
    )
    .await;
    client.unwrap();
    let (client, _) = one(presenting(&leaf), trusting(&ca).pin(wrong), "localhost").await;
    assert_eq!(cause(client), Some(TlsCause::PinMismatch));

    // Pins instead of a chain: a self-signed server nobody vouches for.
    let self_signed = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let identity = tetsuo::tls::Identity::from_pem(
        self_signed.cert.pem().as_bytes(),
        self_signed.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let pin = Pin::of_certificate(self_signed.cert.der()).unwrap();
    let pinned_only = TlsConnector::builder()
        .webpki_roots(false)
        .pin(pin)
        .chain_validation(false);
    let (client, _) = one(
        TlsAcceptor::builder().identity(identity.clone()),
        pinned_only,
        "localhost",
    )
    .await;
    client.unwrap();
    let wrong_only = TlsConnector::builder().pin(wrong).chain_validation(false);
    let (client, _) = one(
        TlsAcceptor::builder().identity(identity),
        wrong_only,
        "localhost",
    )
    .await;
    assert_eq!(cause(client), Some(TlsCause::PinMismatch));

    // Turning chain validation off without a pin is refused up front.
    let err = TlsConnector::builder()
        .chain_validation(false)
        .build()
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
}

#[tokio::test]
async fn danger_accept_invalid_certs_accepts_anything() {
    let other = Ca::root("Other Root");
    let leaf = other.server(&["localhost"], Validity::Expired);
    let client = TlsConnector::builder().danger_accept_invalid_certs(true);
    let (client, _) = one(presenting(&leaf), client, "wrong.name").await;
    client.unwrap();
}

#[tokio::test]
async fn sni_picks_the_certificate() {
    let ca = Ca::root("Test Root");
    let default = ca.server(&["default.test"], Validity::Current);
    let a = ca.server(&["a.test"], Validity::Current);
    let wild = ca.server(&["*.wild.test"], Validity::Current);
    let acceptor = TlsAcceptor::builder()
        .identity(default.identity())
        .sni_identity("a.test", a.identity())
        .sni_identity("*.wild.test", wild.identity())
        .build()
        .unwrap();
    let client = trusting(&ca).build().unwrap();
    for (name, expected) in [
        ("a.test", &a),
        ("x.wild.test", &wild),
        ("default.test", &default),
    ] {
        let (addr, task) = serve(acceptor.clone(), 1).await;
        let info = handshake(&client, name, addr).await.unwrap();
        assert_eq!(info.peer_certificates()[0], expected.der(), "for {name}");
        let server = task.await.unwrap().pop().unwrap().unwrap();
        assert_eq!(server.server_name(), Some(name));
    }
    // An unknown name gets the default certificate (which then fails the
    // client's name check).
    let (addr, _task) = serve(acceptor.clone(), 1).await;
    let err = handshake(&client, "unknown.test", addr).await.unwrap_err();
    assert_eq!(err.tls_cause(), Some(TlsCause::NameMismatch));
}

#[tokio::test]
async fn alpn_agreement_and_disagreement() {
    let ca = Ca::root("Test Root");
    let leaf = ca.server(&["localhost"], Validity::Current);

    let (client, server) = one(
        presenting(&leaf).alpn(["h2", "http/1.1"]),
        trusting(&ca).alpn(["http/1.1"]),
        "localhost",
    )
    .await;
    assert_eq!(client.unwrap().alpn_protocol(), Some(&b"http/1.1"[..]));
    assert_eq!(server.unwrap().alpn_protocol(), Some(&b"http/1.1"[..]));

    // A client that offers nothing gets no protocol.
    let (client, _) = one(presenting(&leaf).alpn(["h2"]), trusting(&ca), "localhost").await;
    assert_eq!(client.unwrap().alpn_protocol(), None);

    let (client, server) = one(
        presenting(&leaf).alpn(["h2"]),
        trusting(&ca).alpn(["http/1.1"]),
        "localhost",
    )
    .await;
    assert_eq!(cause(client), Some(TlsCause::NoCommonAlpn));
    assert_eq!(cause(server), Some(TlsCause::NoCommonAlpn));
}

#[tokio::test]
async fn mutual_tls_accepts_and_rejects() {
    let ca = Ca::root("Test Root");
    let client_ca = Ca::root("Client CA");
    let stranger_ca = Ca::root("Stranger CA");
    let leaf = ca.server(&["localhost"], Validity::Current);
    let required = || presenting(&leaf).client_auth(ClientAuth::Required(vec![client_ca.der()]));

    let alice = client_ca.client("alice");
    let (client, server) = one(
        required(),
        trusting(&ca).client_identity(alice.identity()),
        "localhost",
    )
    .await;
    client.unwrap();
    assert_eq!(server.unwrap().peer_certificates(), &[alice.der()]);

    // No certificate: the server refuses.
    let (client, server) = one(required(), trusting(&ca), "localhost").await;
    assert_eq!(cause(server), Some(TlsCause::CertificateRequired));
    assert_eq!(cause(client), Some(TlsCause::CertificateRequired));

    // A certificate from a CA the server does not trust.
    let mallory = stranger_ca.client("mallory");
    let (client, server) = one(
        required(),
        trusting(&ca).client_identity(mallory.identity()),
        "localhost",
    )
    .await;
    assert_eq!(cause(server), Some(TlsCause::UnknownIssuer));
    assert_eq!(cause(client), Some(TlsCause::PeerRejected));

    // Optional: a client without a certificate is welcome.
    let optional = presenting(&leaf).client_auth(ClientAuth::Optional(vec![client_ca.der()]));
    let (client, server) = one(optional, trusting(&ca), "localhost").await;
    client.unwrap();
    assert!(server.unwrap().peer_certificates().is_empty());
}

#[tokio::test]
async fn second_connection_resumes_on_tls13_and_tls12() {
    let ca = Ca::root("Test Root");
    let leaf = ca.server(&["localhost"], Validity::Current);
    for tls13 in [true, false] {
        let acceptor = presenting(&leaf).tls13(tls13).build().unwrap();
        let connector = trusting(&ca).tls12(true).build().unwrap();
        let (addr, task) = serve(acceptor, 2).await;
        let first = handshake(&connector, "localhost", addr).await.unwrap();
        // Clones share the session cache.
        let second = handshake(&connector.clone(), "localhost", addr)
            .await
            .unwrap();
        let expected = if tls13 {
            Version::Tls13
        } else {
            Version::Tls12
        };
        assert_eq!((first.version(), second.version()), (expected, expected));
        assert!(!first.is_resumed(), "{expected}: first connection resumed");
        assert!(
            second.is_resumed(),
            "{expected}: second connection did not resume"
        );
        let servers = task.await.unwrap();
        assert!(servers[1].as_ref().unwrap().is_resumed());
    }

    // A cache size of 0 turns resumption off.
    let acceptor = presenting(&leaf).build().unwrap();
    let connector = trusting(&ca).session_cache_size(0).build().unwrap();
    let (addr, _task) = serve(acceptor, 2).await;
    handshake(&connector, "localhost", addr).await.unwrap();
    assert!(
        !handshake(&connector, "localhost", addr)
            .await
            .unwrap()
            .is_resumed()
    );
}

#[tokio::test]
async fn tls12_only_server_needs_the_client_option() {
    let ca = Ca::root("Test Root");
    let leaf = ca.server(&["localhost"], Validity::Current);
    let (client, _) = one(presenting(&leaf).tls13(false), trusting(&ca), "localhost").await;
    assert_eq!(cause(client), Some(TlsCause::Incompatible));
    let (client, _) = one(
        presenting(&leaf).tls13(false),
        trusting(&ca).tls12(true),
        "localhost",
    )
    .await;
    let info = client.unwrap();
    assert_eq!(info.version(), Version::Tls12);
    assert!(
        info.cipher_suite().starts_with("TLS_ECDHE_"),
        "{}",
        info.cipher_suite()
    );
}

#[tokio::test]
async fn stapled_ocsp_reaches_the_client_and_is_checked() {
    let root = Ca::root("Test Root");
    let ca = root.intermediate("Test Intermediate");
    let leaf = ca.server(&["localhost"], Validity::Current);
    let good = ca.ocsp(&leaf, true, -1, 3);
    let with = |staple: Vec<u8>| TlsAcceptor::builder().identity(leaf.identity().with_ocsp(staple));

    let (client, _) = one(
        with(good.clone()),
        trusting(&root).require_ocsp_staple(true),
        "localhost",
    )
    .await;
    let info = client.unwrap();
    assert_eq!(info.ocsp_response(), Some(good.as_slice()));
    assert!(info.ocsp_verified());

    let (client, _) = one(
        presenting(&leaf),
        trusting(&root).require_ocsp_staple(true),
        "localhost",
    )
    .await;
    assert_eq!(cause(client), Some(TlsCause::OcspStapleMissing));

    // A revoked staple is fatal whether or not staples are required.
    let revoked = ca.ocsp(&leaf, false, -1, 3);
    let (client, _) = one(with(revoked), trusting(&root), "localhost").await;
    assert_eq!(cause(client), Some(TlsCause::Revoked));

    // An expired staple: fatal when required, ignored (and unverified) otherwise.
    let expired = ca.ocsp(&leaf, true, -10, -2);
    let (client, _) = one(
        with(expired.clone()),
        trusting(&root).require_ocsp_staple(true),
        "localhost",
    )
    .await;
    assert_eq!(cause(client), Some(TlsCause::OcspStapleInvalid));
    let (client, _) = one(with(expired.clone()), trusting(&root), "localhost").await;
    let info = client.unwrap();
    assert_eq!(info.ocsp_response(), Some(expired.as_slice()));
    assert!(!info.ocsp_verified());

    // A staple signed by some other CA proves nothing.
    let forged = root.ocsp(&leaf, true, -1, 3);
    let (client, _) = one(
        with(forged),
        trusting(&root).require_ocsp_staple(true),
        "localhost",
    )
    .await;
    assert_eq!(cause(client), Some(TlsCause::OcspStapleInvalid));
}

#[tokio::test]
async fn certificates_and_staples_reload_without_dropping_connections() {
    let ca = Ca::root("Test Root");
    let old = ca.server(&["localhost"], Validity::Current);
    let new = ca.server(&["localhost"], Validity::Current);
    let acceptor = presenting(&old).build().unwrap();
    let connector = trusting(&ca).session_cache_size(0).build().unwrap();

    let listener = TcpListenerBuilder::new("127.0.0.1:0".parse().unwrap())
        .bind()
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let server_acceptor = acceptor.clone();
    let server = tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let acceptor = server_acceptor.clone();
            tokio::spawn(async move {
                // Echo until the client closes.
                let tls = acceptor.accept(tcp).await.unwrap();
                let (mut r, mut w) = tokio::io::split(tls);
                tokio::io::copy(&mut r, &mut w).await.unwrap();
                w.shutdown().await.unwrap();
            });
        }
    });

    let mut before = dial(&connector, "localhost", addr).await.unwrap();
    assert_eq!(before.info().peer_certificates()[0], old.der());

    acceptor.set_identity(new.identity()).unwrap();
    let staple = ca.ocsp(&new, true, -1, 3);
    acceptor
        .set_ocsp_response(None, Some(staple.clone()))
        .unwrap();

    // The old connection still works after the reload...
    before.write_all(b"still here").await.unwrap();
    let mut buf = [0; 10];
    before.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"still here");
    // ...and new ones get the new certificate and staple.
    let after = dial(&connector, "localhost", addr).await.unwrap();
    assert_eq!(after.info().peer_certificates()[0], new.der());
    assert_eq!(after.info().ocsp_response(), Some(staple.as_slice()));
    assert!(after.info().ocsp_verified());

    let err = acceptor
        .set_ocsp_response(Some("nope.test"), None)
        .unwrap_err();
    assert!(err.is_invalid_input());
    server.abort();
}

#[tokio::test(start_paused = true)]
async fn silent_peers_hit_the_handshake_timeout() {
    let ca = Ca::root("Test Root");
    let leaf = ca.server(&["localhost"], Validity::Current);

    // A server that never answers the ClientHello.
    let connector = trusting(&ca)
        .handshake_timeout(Duration::from_secs(3))
        .build()
        .unwrap();
    let (client_io, _silent_server) = tokio::io::duplex(1 << 16);
    let err = connector.connect("localhost", client_io).await.unwrap_err();
    assert_eq!(err.tls_cause(), Some(TlsCause::HandshakeTimeout));
    assert!(err.is_timeout() && err.is_tls(), "{err:?}");

    // A client that never sends one.
    let acceptor = presenting(&leaf)
        .handshake_timeout(Some(Duration::from_secs(5)))
        .build()
        .unwrap();
    let (_silent_client, server_io) = tokio::io::duplex(1 << 16);
    let start = tokio::time::Instant::now();
    let err = acceptor.accept(server_io).await.unwrap_err();
    assert_eq!(err.tls_cause(), Some(TlsCause::HandshakeTimeout));
    assert_eq!(start.elapsed(), Duration::from_secs(5));
}

#[tokio::test]
async fn mismatched_key_and_certificate_are_refused() {
    let ca = Ca::root("Test Root");
    let a = ca.server(&["localhost"], Validity::Current);
    let b = ca.server(&["localhost"], Validity::Current);
    let key = tetsuo::tls::PrivateKeyDer::try_from(b.key.serialize_der()).unwrap();
    let identity = tetsuo::tls::Identity::from_der(vec![a.der()], key).unwrap();
    let err = TlsAcceptor::builder()
        .identity(identity)
        .build()
        .unwrap_err();
    assert!(err.is_invalid_input(), "{err}");
    assert!(err.to_string().contains("does not belong"), "{err}");
}

#[cfg(feature = "tls-native-roots")]
#[tokio::test]
async fn system_roots_load_and_do_not_trust_a_private_ca() {
    let ca = Ca::root("Test Root");
    let leaf = ca.server(&["localhost"], Validity::Current);
    let system = TlsConnector::builder()
        .webpki_roots(false)
        .native_roots(true);
    let (client, _) = one(presenting(&leaf), system, "localhost").await;
    assert_eq!(cause(client), Some(TlsCause::UnknownIssuer));
    // Adding the private CA on top of the system store makes it work.
    let both = TlsConnector::builder()
        .webpki_roots(false)
        .native_roots(true)
        .add_ca_der(ca.der());
    let (client, _) = one(presenting(&leaf), both, "localhost").await;
    client.unwrap();
}

#[tokio::test]
async fn a_lookalike_issuer_cannot_vouch_for_a_staple() {
    // The server sends, after its leaf, a certificate that carries the real
    // CA's name but the attacker's key, and a "good" staple signed by that
    // key. Chain validation ignores the lookalike; the OCSP check must too.
    let ca = Ca::root("Test Root");
    let lookalike = Ca::root("Test Root");
    let mut leaf = ca.server(&["localhost"], Validity::Current);
    leaf.chain.push(lookalike.der());
    let forged = lookalike.ocsp(&leaf, true, -1, 3);
    let server = TlsAcceptor::builder().identity(leaf.identity().with_ocsp(forged));
    let (client, _) = one(server, trusting(&ca).require_ocsp_staple(true), "localhost").await;
    assert_eq!(cause(client), Some(TlsCause::OcspStapleInvalid));
}

#[tokio::test]
async fn danger_mode_still_enforces_pins_and_staples() {
    let other = Ca::root("Other Root");
    let leaf = other.server(&["localhost"], Validity::Current);
    let wrong = Pin::of_certificate(&other.der()).unwrap();
    let danger = || TlsConnector::builder().danger_accept_invalid_certs(true);
    let (client, _) = one(presenting(&leaf), danger().pin(wrong), "localhost").await;
    assert_eq!(cause(client), Some(TlsCause::PinMismatch));
    let (client, _) = one(
        presenting(&leaf),
        danger().require_ocsp_staple(true),
        "localhost",
    )
    .await;
    assert_eq!(cause(client), Some(TlsCause::OcspStapleMissing));
}

#[tokio::test]
async fn a_delegated_responder_needs_the_ocsp_signing_purpose() {
    let root = Ca::root("Test Root");
    let ca = root.intermediate("Test Intermediate");
    let leaf = ca.server(&["localhost"], Validity::Current);
    let with = |staple: Vec<u8>| TlsAcceptor::builder().identity(leaf.identity().with_ocsp(staple));

    // A responder certificate the issuer made for OCSP signing: trusted.
    let responder = ca.responder(true);
    let staple = ca.ocsp_signed_by(Some(&responder), &leaf, true, -1, 3);
    let (client, _) = one(
        with(staple),
        trusting(&root).require_ocsp_staple(true),
        "localhost",
    )
    .await;
    assert!(client.unwrap().ocsp_verified());
    // Revoked, by the same responder: fatal.
    let staple = ca.ocsp_signed_by(Some(&responder), &leaf, false, -1, 3);
    let (client, _) = one(with(staple), trusting(&root), "localhost").await;
    assert_eq!(cause(client), Some(TlsCause::Revoked));

    // Without the OCSP-signing purpose, its word is worth nothing.
    let plain = ca.responder(false);
    let staple = ca.ocsp_signed_by(Some(&plain), &leaf, false, -1, 3);
    let (client, _) = one(with(staple.clone()), trusting(&root), "localhost").await;
    let info = client.unwrap();
    assert!(
        !info.ocsp_verified(),
        "an unauthorised responder's revocation is ignored"
    );
    let (client, _) = one(
        with(staple),
        trusting(&root).require_ocsp_staple(true),
        "localhost",
    )
    .await;
    assert_eq!(cause(client), Some(TlsCause::OcspStapleInvalid));

    // A responder issued by some other CA: not trusted either.
    let stranger = root.responder(true);
    let staple = ca.ocsp_signed_by(Some(&stranger), &leaf, true, -1, 3);
    let (client, _) = one(
        with(staple),
        trusting(&root).require_ocsp_staple(true),
        "localhost",
    )
    .await;
    assert_eq!(cause(client), Some(TlsCause::OcspStapleInvalid));
}
