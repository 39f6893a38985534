//! The hickory-backed resolver against a DNS server started by the test
//! (hickory-server, counting the queries that reach it): A, AAAA, SRV,
//! NXDOMAIN cached, TTL expiry, Happy Eyeballs fed by separate answers, and
//! (with `dns-over-https`) DNS-over-TLS and DNS-over-HTTPS.

mod support;

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hickory_server::ServerFuture;
use hickory_server::authority::{Catalog, ZoneType};
use hickory_server::proto::rr::rdata::{A, AAAA, SOA, SRV};
use hickory_server::proto::rr::{LowerName, Name, RData, Record};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryAuthority;
use tetsuo::connect::Connector;
use tetsuo::dns::{HickoryResolver, NameServer, Query, Resolve, Srv};

/// The zone's catalog, counting every query that reaches the server.
struct Counting {
    catalog: Catalog,
    queries: Arc<AtomicUsize>,
}

// The trait is an `async_trait`; this is its expanded signature.
impl RequestHandler for Counting {
    fn handle_request<'s, 'r, 'f, R>(
        &'s self,
        request: &'r Request,
        response: R,
    ) -> Pin<Box<dyn Future<Output = ResponseInfo> + Send + 'f>>
    where
        R: ResponseHandler + 'f,
        's: 'f,
        'r: 'f,
        Self: 'f,
    {
        self.queries.fetch_add(1, Ordering::SeqCst);
        self.catalog.handle_request(request, response)
    }
}

fn name(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

/// Serves zone `test.` on 127.0.0.1 (UDP); its address and query counter.
async fn dns_server(app_port: u16) -> (SocketAddr, Arc<AtomicUsize>) {
    let (mut server, queries) = zone_server(app_port);
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = socket.local_addr().unwrap();
    server.register_socket(socket);
    tokio::spawn(async move { server.block_until_done().await });
    (addr, queries)
}

/// A server for zone `test.`, with no listener yet.
fn zone_server(app_port: u16) -> (ServerFuture<Counting>, Arc<AtomicUsize>) {
    let origin = name("test.");
    let mut zone = InMemoryAuthority::empty(origin.clone(), ZoneType::Primary, false);
    let soa = SOA::new(
        name("ns.test."),
        name("admin.test."),
        1,
        3600,
        600,
        86400,
        300,
    );
    let records = [
        Record::from_rdata(origin.clone(), 3600, RData::SOA(soa)),
        Record::from_rdata(
            name("dual.test."),
            300,
            RData::AAAA(AAAA::new(0, 0, 0, 0, 0, 0, 0, 1)),
        ),
        Record::from_rdata(name("dual.test."), 300, RData::A(A::new(127, 0, 0, 1))),
        Record::from_rdata(name("v4only.test."), 300, RData::A(A::new(127, 0, 0, 1))),
        Record::from_rdata(name("brief.test."), 1, RData::A(A::new(127, 0, 0, 2))),
        Record::from_rdata(
            name("_app._tcp.test."),
            300,
            RData::SRV(SRV::new(10, 60, app_port, name("dual.test."))),
        ),
        Record::from_rdata(
            name("_app._tcp.test."),
            300,
            RData::SRV(SRV::new(20, 0, 9, name("v4only.test."))),
        ),
    ];
    for record in records {
        zone.upsert_mut(record, 1);
    }
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::new(&origin), vec![Arc::new(zone)]);
    let queries = Arc::new(AtomicUsize::new(0));
    let server = ServerFuture::new(Counting {
        catalog,
        queries: queries.clone(),
    });
    (server, queries)
}

fn resolver(server: SocketAddr) -> HickoryResolver {
    HickoryResolver::builder()
        .name_server(NameServer::udp(server))
        .use_hosts_file(false)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

#[tokio::test]
async fn records_cache_and_negative_answers() {
    let (server, queries) = dns_server(8080).await;
    let r = resolver(server);
    assert_eq!(
        r.lookup("dual.test", Query::V6).await.unwrap(),
        ips(&["::1"])
    );
    assert_eq!(
        r.lookup("dual.test", Query::V4).await.unwrap(),
        ips(&["127.0.0.1"])
    );
    assert_eq!(queries.load(Ordering::SeqCst), 2);
    // Cached: no new queries.
    r.lookup("dual.test", Query::V6).await.unwrap();
    r.lookup("dual.test", Query::V4).await.unwrap();
    assert_eq!(queries.load(Ordering::SeqCst), 2);

    // The name exists without AAAA: an empty answer, not an error.
    assert!(r.lookup("v4only.test", Query::V6).await.unwrap().is_empty());

    // NXDOMAIN is an error, and it is cached too.
    let before = queries.load(Ordering::SeqCst);
    let err = r.lookup("missing.test", Query::V4).await.unwrap_err();
    assert!(
        err.is_dns() && err.to_string().contains("NXDOMAIN"),
        "{err}"
    );
    assert_eq!(queries.load(Ordering::SeqCst), before + 1);
    assert!(
        r.lookup("missing.test", Query::V4)
            .await
            .unwrap_err()
            .is_dns()
    );
    assert_eq!(queries.load(Ordering::SeqCst), before + 1);

    let srv = r.lookup_srv("_app._tcp.test").await.unwrap();
    assert_eq!(
        srv,
        [
            Srv {
                priority: 10,
                weight: 60,
                port: 8080,
                target: "dual.test".into()
            },
            Srv {
                priority: 20,
                weight: 0,
                port: 9,
                target: "v4only.test".into()
            },
        ]
    );
}

#[tokio::test]
async fn answers_expire_with_their_ttl() {
    let (server, queries) = dns_server(1).await;
    let r = resolver(server);
    assert_eq!(
        r.lookup("brief.test", Query::V4).await.unwrap(),
        ips(&["127.0.0.2"])
    );
    r.lookup("brief.test", Query::V4).await.unwrap();
    assert_eq!(queries.load(Ordering::SeqCst), 1);
    // TTL 1 s: the cache lets go (hickory's cache keeps the real clock).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    r.lookup("brief.test", Query::V4).await.unwrap();
    assert_eq!(queries.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_connector_races_what_the_dns_server_says() {
    // SRV names the service; its target has AAAA ::1 and A 127.0.0.1; only
    // 127.0.0.1 listens, so IPv6 is refused and IPv4 wins.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (server, _) = dns_server(port).await;
    let r = resolver(server);
    let srv = r.lookup_srv("_app._tcp.test").await.unwrap();
    let connector = Connector::builder().resolver(r).build();
    let (_stream, info) = connector
        .connect(&srv[0].target, srv[0].port)
        .await
        .unwrap();
    assert_eq!(
        info.remote_addr,
        SocketAddr::new("127.0.0.1".parse().unwrap(), port)
    );
    assert_eq!(info.resolved.len(), 2, "{info:?}");
    assert!(info.attempts.iter().any(|a| a.addr.is_ipv6()), "{info:?}");
}

#[cfg(feature = "dns-over-https")]
#[tokio::test]
async fn dns_over_tls_and_over_https() {
    use support::pki::{Ca, Validity};

    // hickory-server on DoT and DoH with a certificate for dns.test.
    let ca = Ca::root("DNS Test CA");
    let leaf = ca.server(&["dns.test"], Validity::Current);
    let provider = rustls::crypto::ring::default_provider();
    let key = rustls::pki_types::PrivateKeyDer::try_from(leaf.key.serialize_der()).unwrap();
    let certified = rustls::sign::CertifiedKey::from_der(vec![leaf.der()], key, &provider).unwrap();
    let certs: Arc<dyn rustls::server::ResolvesServerCert> =
        Arc::new(rustls::sign::SingleCertAndKey::from(certified));
    let (mut server, queries) = zone_server(1);
    let dot = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dot_addr = dot.local_addr().unwrap();
    server
        .register_tls_listener(dot, Duration::from_secs(5), certs.clone())
        .unwrap();
    let doh = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let doh_addr = doh.local_addr().unwrap();
    server
        .register_https_listener(
            doh,
            Duration::from_secs(5),
            certs,
            None,
            "/dns-query".into(),
        )
        .unwrap();
    tokio::spawn(async move { server.block_until_done().await });

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der()).unwrap();
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    for (server, transport) in [
        (NameServer::tls(dot_addr, "dns.test"), "DoT"),
        (NameServer::https(doh_addr, "dns.test"), "DoH"),
    ] {
        let before = queries.load(Ordering::SeqCst);
        let resolver = HickoryResolver::builder()
            .name_server(server)
            .tls_config(tls.clone())
            .use_hosts_file(false)
            .build()
            .unwrap();
        let ips = resolver.lookup("dual.test", Query::V6).await.unwrap();
        assert_eq!(
            ips,
            [IpAddr::from(std::net::Ipv6Addr::LOCALHOST)],
            "{transport}"
        );
        assert_eq!(queries.load(Ordering::SeqCst), before + 1, "{transport}");
    }

    // A server whose certificate is for another name is refused.
    let resolver = HickoryResolver::builder()
        .name_server(NameServer::tls(dot_addr, "other.test"))
        .tls_config(tls)
        .use_hosts_file(false)
        .timeout(Duration::from_secs(2))
        .attempts(1)
        .build()
        .unwrap();
    assert!(resolver.lookup("dual.test", Query::V4).await.is_err());
}
