#!/usr/bin/env bash
# tetsuo's TLS against OpenSSL's own tools: s_client against `tetsuo echo
# --tls` (TLS 1.3, ALPN, the stapled OCSP response, resumption, SIGHUP
# reload, the printed pin), and `tetsuo connect --tls` against s_server
# (TLS 1.3 and 1.2, with and without -Verify), succeeding and failing exactly
# as configured. The PKI is made here with openssl, in a temporary directory.
source "$(dirname "$0")/lib/common.sh"

apt_install openssl openssl
T=$(tetsuo_bin)
cd "$WORK" || exit 1

# --- a throw-away PKI ---------------------------------------------------------
quiet() { "$@" >/dev/null 2>&1 || { echo "$NAME: setup failed: $*" >&2; exit 1; }; }
newkey() { quiet openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
make_ca() { # NAME FILE-PREFIX
    newkey "$2.key"
    quiet openssl req -x509 -key "$2.key" -out "$2.pem" -days 2 -subj "/CN=$1" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"
}
make_leaf() { # CA-PREFIX PREFIX CN EXTENSIONS
    newkey "$2.key"
    quiet openssl req -new -key "$2.key" -out "$2.csr" -subj "/CN=$3"
    printf '%b' "$4" >"$2.ext"
    quiet openssl x509 -req -in "$2.csr" -CA "$1.pem" -CAkey "$1.key" -CAcreateserial \
        -days 2 -out "$2.pem" -extfile "$2.ext"
}
make_ca "Interop CA" ca
make_ca "Interop Client CA" clientca
make_ca "Stranger CA" stranger
make_leaf ca srv localhost 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n'
make_leaf clientca client alice 'extendedKeyUsage=clientAuth\n'

ocsp() { # STATUS(V|R) OUT
    local serial end revoked=""
    serial=$(openssl x509 -in srv.pem -noout -serial | cut -d= -f2)
    end=$(date -u -d "$(openssl x509 -in srv.pem -noout -enddate | cut -d= -f2)" +%y%m%d%H%M%SZ)
    [ "$1" = R ] && revoked=$(date -u -d '-1 hour' +%y%m%d%H%M%SZ)
    printf '%s\t%s\t%s\t%s\tunknown\t/CN=localhost\n' "$1" "$end" "$revoked" "$serial" >index.txt
    quiet openssl ocsp -index index.txt -rsigner ca.pem -rkey ca.key -CA ca.pem \
        -issuer ca.pem -cert srv.pem -respout "$2" -ndays 1
}
ocsp V good.der
ocsp R revoked.der
cp good.der staple.der

# --- s_client against tetsuo echo --tls -----------------------------------------
start echo.log "$T" echo --tls --cert srv.pem --key srv.key --ocsp-response staple.der \
    --alpn h2,http/1.1 --listen 127.0.0.1:0
ECHO=$(wait_for_line echo.log 'tls://' | sed 's|.*tls://127.0.0.1:||')
ECHO_PID=${STARTED_PIDS[-1]}

client() { # extra s_client flags...; stdin is sent, then 1 s to read tickets and replies
    (printf 'ping\n'; sleep 1) | timeout 10 openssl s_client -connect "127.0.0.1:$ECHO" \
        -servername localhost -CAfile ca.pem "$@" 2>&1
}
out=$(client -alpn h2,http/1.1 -status)
has() { grep -q -- "$1" <<<"$out" && echo yes || echo "no ($1)"; }
check "s_client: TLS 1.3" yes "$(has 'New, TLSv1.3')"
check "s_client: ALPN h2 chosen" yes "$(has 'ALPN protocol: h2')"
check "s_client: stapled OCSP response" yes "$(has 'OCSP Response Status: successful')"
check "s_client: staple says good" yes "$(has 'Cert Status: good')"
check "s_client: chain verified" yes "$(has 'Verify return code: 0 (ok)')"
check "s_client: data echoed" yes "$(has '^ping$')"

client -sess_out sess.pem >/dev/null
out=$(client -sess_in sess.pem)
check "s_client: session resumed (-sess_out/-sess_in)" yes "$(has 'Reused, TLSv1.3')"

out=$(printf 'hi' | timeout 10 "$T" connect --tls --cacert ca.pem --require-ocsp -v "localhost:$ECHO" 2>&1)
check "tetsuo connect -> tetsuo echo --tls: staple verified" yes \
    "$(has 'OCSP staple: [0-9]* bytes, verified: certificate good')"

# Reload a revoked staple with SIGHUP: running service, new answer.
cp revoked.der staple.der
kill -HUP "$ECHO_PID"
wait_for_line echo.log 'reloaded certificate' >/dev/null
out=$(client -status)
check "SIGHUP reload: s_client sees the revoked staple" yes "$(has 'Cert Status: revoked')"
err=$(printf x | timeout 10 "$T" connect --tls --cacert ca.pem "localhost:$ECHO" 2>&1 >/dev/null)
check "SIGHUP reload: tetsuo connect refuses a revoked certificate" \
    "60|tetsuo: TLS handshake with localhost: certificate is revoked" "$?|$err"

# The pin printed for a generated certificate is the one OpenSSL computes.
start self.log "$T" echo --tls --listen 127.0.0.1:0
SELF=$(wait_for_line self.log 'tls://' | sed 's|.*tls://127.0.0.1:||')
PRINTED=$(grep -o 'sha256/[A-Za-z0-9+/=]*' self.log)
COMPUTED=sha256/$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$SELF" 2>/dev/null \
    | openssl x509 -pubkey -noout | openssl pkey -pubin -outform der \
    | openssl dgst -sha256 -binary | base64)
check "printed pin equals OpenSSL's SPKI digest" "$COMPUTED" "$PRINTED"
check "tetsuo connect --insecure --pin (pin-only) to the self-signed server" "pinned" \
    "$(printf pinned | timeout 10 "$T" connect --tls --insecure --pin "$PRINTED" "127.0.0.1:$SELF")"

# --- tetsuo connect against s_server -----------------------------------------------
# s_server_run FLAGS...: one connection, lines echoed reversed (-rev).
s_server_run() {
    PORT=$(free_port)
    start "s_server.$PORT.log" timeout 20 openssl s_server -accept "127.0.0.1:$PORT" \
        -cert srv.pem -key srv.key -naccept 1 -rev "$@"
    wait_for_line "s_server.$PORT.log" 'ACCEPT' >/dev/null
}
# tconnect ARGS...: prints "rc|stdout|stderr-first-line"
tconnect() {
    local out err rc
    out=$(printf 'hello\n' | timeout 10 "$T" connect --tls --cacert "${CA:-ca.pem}" "$@" 2>"$WORK/tc.err")
    rc=$?
    err=$(head -1 "$WORK/tc.err")
    echo "$rc|$out|$err"
}

s_server_run -tls1_3
check "s_server TLS 1.3: tetsuo connect works" "0|olleh|" "$(tconnect "localhost:$PORT")"

s_server_run -tls1_2
check "s_server TLS 1.2 only: refused without --tls1.2" \
    "35||tetsuo: TLS handshake with localhost: no TLS version or cipher suite in common" \
    "$(tconnect "localhost:$PORT")"
s_server_run -tls1_2
check "s_server TLS 1.2 only: works with --tls1.2" "0|olleh|" "$(tconnect --tls1.2 "localhost:$PORT")"

for version in -tls1_3 -tls1_2; do
    s_server_run "$version" -Verify 1 -CAfile clientca.pem
    check "s_server $version -Verify: client certificate accepted" "0|olleh|" \
        "$(tconnect --tls1.2 --cert client.pem --key client.key "localhost:$PORT")"
    s_server_run "$version" -Verify 1 -CAfile clientca.pem
    result=$(tconnect --tls1.2 "localhost:$PORT")
    check "s_server $version -Verify: refused without a client certificate (exit 35)" 35 "${result%%|*}"
done

s_server_run -tls1_3
check "wrong CA: exit 60, unknown issuer" \
    "60||tetsuo: TLS handshake with localhost: certificate issuer is unknown (untrusted)" \
    "$(CA=stranger.pem tconnect "localhost:$PORT")"
PIN=sha256/$(openssl x509 -in srv.pem -pubkey -noout | openssl pkey -pubin -outform der \
    | openssl dgst -sha256 -binary | base64)
s_server_run -tls1_3
check "right pin on top of the chain: works" "0|olleh|" "$(tconnect --pin "$PIN" "localhost:$PORT")"
s_server_run -tls1_3
check "wrong pin: exit 90" \
    "90||tetsuo: TLS handshake with localhost: public key matches no pin" \
    "$(tconnect --pin "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=" "localhost:$PORT")"

s_server_run -tls1_3 -status_file good.der
check "s_server -status_file: --require-ocsp accepts its staple" "0|olleh|" \
    "$(tconnect --require-ocsp "localhost:$PORT")"
s_server_run -tls1_3
check "s_server without a staple: --require-ocsp refuses (exit 60)" \
    "60||tetsuo: TLS handshake with localhost: server stapled no OCSP response" \
    "$(tconnect --require-ocsp "localhost:$PORT")"

finish
