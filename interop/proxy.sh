#!/usr/bin/env bash
# The connect pipeline through proxies we did not write: `tetsuo get` to a
# local HTTPS server through Dante (SOCKS5, without and with username/
# password, socks5 and socks5h) and tinyproxy (HTTP CONNECT and plain-HTTP
# forwarding, without and with Basic auth), from the command line and from
# HTTP(S)_PROXY; and curl (--socks5-hostname, --socks4a, --socks5 with
# credentials) through `tetsuo socks`. Everything runs on loopback.
source "$(dirname "$0")/lib/common.sh"

apt_install curl curl
apt_install openssl openssl
apt_install dante-server danted
apt_install tinyproxy tinyproxy
T=$(tetsuo_bin)
cd "$WORK" || exit 1

# Dante's username method checks the system's accounts: a locked-down user
# with a password, made once.
PROXY_USER=tetsuo-proxy
PROXY_PASS=interop-pass-1
if ! id "$PROXY_USER" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$PROXY_USER"
fi
echo "$PROXY_USER:$PROXY_PASS" | chpasswd

# wait_port PORT: until something listens on 127.0.0.1:PORT (up to 10 s).
wait_port() {
    local i
    for i in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "$NAME: nothing listens on $1" >&2
    return 1
}

# A certificate for localhost and proxied.test, signed by a throw-away CA.
make_certs "Proxy Interop CA" DNS:proxied.test

start serve.log "$T" serve --listen 127.0.0.1:0 --tls-listen 127.0.0.1:0 \
    --cert srv.pem --key srv.key --max-conns-per-ip 0
HTTP=$(wait_for_line serve.log 'http://' | sed 's|.*http://||')
HTTPS=$(wait_for_line serve.log 'https://' | sed 's|.*https://||')
HTTPS_PORT=${HTTPS##*:}
HTTP_PORT=${HTTP##*:}

# --- Dante: one server without authentication, one with -------------------------
dante_conf() { # PORT METHOD
    cat <<EOF
logoutput: $WORK/danted-$1.log
internal: 127.0.0.1 port = $1
external: 127.0.0.1
socksmethod: $2
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 command: connect }
EOF
}
DANTE=$(free_port)
DANTE_AUTH=$(free_port)
dante_conf "$DANTE" none >danted.conf
dante_conf "$DANTE_AUTH" username >danted-auth.conf
start danted.out danted -f danted.conf
start danted-auth.out danted -f danted-auth.conf

# --- tinyproxy: one open, one with Basic auth (all CONNECT ports allowed) --------
tiny_conf() { # PORT [USER PASS]
    cat <<EOF
Port $1
Listen 127.0.0.1
Timeout 30
MaxClients 32
Allow 127.0.0.1
LogLevel Info
LogFile "$WORK/tinyproxy-$1.log"
PidFile "$WORK/tinyproxy-$1.pid"
EOF
    [ $# -eq 3 ] && echo "BasicAuth $2 $3"
}
TINY=$(free_port)
TINY_AUTH=$(free_port)
tiny_conf "$TINY" >tinyproxy.conf
tiny_conf "$TINY_AUTH" tiny secret-2 >tinyproxy-auth.conf
start tinyproxy.out tinyproxy -d -c tinyproxy.conf
start tinyproxy-auth.out tinyproxy -d -c tinyproxy-auth.conf

# --- tetsuo socks ---------------------------------------------------------------
start socks.log "$T" socks --listen 127.0.0.1:0
TSOCKS=$(wait_for_line socks.log 'socks5://' | sed 's|.*socks5://||')
start socks-auth.log "$T" socks --listen 127.0.0.1:0 --auth alice:wonder --deny 10.0.0.0/8
TSOCKS_AUTH=$(wait_for_line socks-auth.log 'socks5://' | sed 's|.*socks5://||')

for port in "$DANTE" "$DANTE_AUTH" "$TINY" "$TINY_AUTH"; do
    wait_port "$port" || exit 1
done

# tget ARGS...: `tetsuo get --cacert ca.pem ARGS`, printing "rc|body".
tget() {
    local out rc
    out=$(timeout 30 "$T" get --cacert ca.pem "$@" 2>"$WORK/tget.err")
    rc=$?
    echo "$rc|$out"
}
OK="0|Hello, World!"

# --- tetsuo get through Dante ---------------------------------------------------
check "tetsuo get -> Dante socks5h (no auth) -> https://localhost" "$OK" \
    "$(tget --proxy "socks5h://127.0.0.1:$DANTE" "https://localhost:$HTTPS_PORT/hello")"
# socks5:// resolves here: a name only --resolve knows, which Dante could not resolve.
check "tetsuo get -> Dante socks5 (local resolution via --resolve)" "$OK" \
    "$(tget --proxy "socks5://127.0.0.1:$DANTE" --resolve "proxied.test:$HTTPS_PORT:127.0.0.1" \
        "https://proxied.test:$HTTPS_PORT/hello")"
check "tetsuo get -> Dante socks5h with username/password" "$OK" \
    "$(tget --proxy "socks5h://$PROXY_USER:$PROXY_PASS@127.0.0.1:$DANTE_AUTH" \
        "https://localhost:$HTTPS_PORT/hello")"
check "tetsuo get -> Dante socks5 with username/password" "$OK" \
    "$(tget --proxy "socks5://$PROXY_USER:$PROXY_PASS@127.0.0.1:$DANTE_AUTH" \
        "https://127.0.0.1:$HTTPS_PORT/hello")"
result=$(tget --proxy "socks5h://$PROXY_USER:wrong@127.0.0.1:$DANTE_AUTH" "https://localhost:$HTTPS_PORT/hello")
check "Dante rejects a wrong password: exit 97" "97|" "$result"
check "  ... and the message says so (password hidden)" \
    "tetsuo: open a tunnel through socks5h://$PROXY_USER:***@127.0.0.1:$DANTE_AUTH: the proxy rejected the username or password" \
    "$(head -1 tget.err)"

# --- tetsuo get through tinyproxy ----------------------------------------------
check "tetsuo get -> tinyproxy CONNECT -> https://localhost" "$OK" \
    "$(tget --proxy "http://127.0.0.1:$TINY" "https://localhost:$HTTPS_PORT/hello")"
check "tetsuo get -> tinyproxy CONNECT with Basic auth" "$OK" \
    "$(tget --proxy "http://tiny:secret-2@127.0.0.1:$TINY_AUTH" "https://localhost:$HTTPS_PORT/hello")"
result=$(tget --proxy "http://127.0.0.1:$TINY_AUTH" "https://localhost:$HTTPS_PORT/hello")
check "tinyproxy without credentials: exit 97" "97|" "$result"
check "  ... carrying the proxy's 407" yes \
    "$(grep -q '407 Proxy Authentication Required' tget.err && echo yes || cat tget.err)"
check "tetsuo get http:// -> tinyproxy forwards it (absolute form)" "$OK" \
    "$(tget -v --proxy "http://tiny:secret-2@127.0.0.1:$TINY_AUTH" "http://localhost:$HTTP_PORT/hello")"
check "  ... the -v story says the proxy forwards" yes \
    "$(grep -q "requests go to HTTP proxy http://127.0.0.1:$TINY_AUTH" tget.err && echo yes || cat tget.err)"
check "HTTP_PROXY from the environment -> tinyproxy" "$OK" \
    "$(HTTP_PROXY="http://127.0.0.1:$TINY" tget "http://localhost:$HTTP_PORT/hello")"
check "HTTPS_PROXY from the environment -> tinyproxy" "$OK" \
    "$(HTTPS_PROXY="http://127.0.0.1:$TINY" tget -v "https://localhost:$HTTPS_PORT/hello")"
check "  ... the -v story names the proxy" yes \
    "$(grep -q "tunnel through http://127.0.0.1:$TINY to localhost:$HTTPS_PORT" tget.err && echo yes || cat tget.err)"
check "NO_PROXY=localhost bypasses it" "$OK" \
    "$(HTTPS_PROXY="http://127.0.0.1:1" NO_PROXY=localhost tget "https://localhost:$HTTPS_PORT/hello")"
check "a chain: tetsuo socks -> Dante -> https://localhost" "$OK" \
    "$(tget --proxy "socks5://$TSOCKS" --proxy "socks5h://127.0.0.1:$DANTE" \
        "https://localhost:$HTTPS_PORT/hello")"
# stdin stays open a moment: tinyproxy closes both ways on a half-close.
check "tetsuo connect --tls -> tinyproxy -> the HTTPS server" "$OK" \
    "$( (printf 'GET /hello HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'; sleep 2) \
        | timeout 30 "$T" connect --tls --cacert ca.pem --proxy "http://127.0.0.1:$TINY" \
            "localhost:$HTTPS_PORT" 2>/dev/null | tail -c 13 | sed 's/^/0|/')"

# --- curl through tetsuo socks --------------------------------------------------
c() { timeout 30 curl -sS "$@"; }
check "curl --socks5-hostname -> tetsuo socks" "Hello, World!" \
    "$(c --socks5-hostname "$TSOCKS" "http://localhost:$HTTP_PORT/hello")"
check "curl --socks5 -> tetsuo socks" "Hello, World!" \
    "$(c --socks5 "$TSOCKS" "http://127.0.0.1:$HTTP_PORT/hello")"
check "curl --socks4a -> tetsuo socks" "Hello, World!" \
    "$(c --socks4a "$TSOCKS" "http://localhost:$HTTP_PORT/hello")"
check "curl --socks4 -> tetsuo socks" "Hello, World!" \
    "$(c --socks4 "$TSOCKS" "http://127.0.0.1:$HTTP_PORT/hello")"
check "curl --socks5-hostname -> tetsuo socks --auth, over HTTPS" "Hello, World!" \
    "$(c --cacert ca.pem -x "socks5h://alice:wonder@$TSOCKS_AUTH" "https://localhost:$HTTPS_PORT/hello")"
c -x "socks5h://alice:nope@$TSOCKS_AUTH" "http://localhost:$HTTP_PORT/hello" >/dev/null 2>&1
check "curl with a wrong password: refused (curl exit 97)" 97 "$?"
c -x "socks5h://alice:wonder@$TSOCKS_AUTH" --connect-timeout 5 "http://10.1.2.3/" >/dev/null 2>&1
check "curl to a denied network: refused (curl exit 97)" 97 "$?"

echo "$NAME: $PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
