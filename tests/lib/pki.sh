# pki.sh - a throw-away PKI for the TLS tests, made with the openssl CLI.
#
# Source it and call `pki_make DIR`, or run `bash tests/lib/pki.sh DIR`.
# DIR (created if needed, owned by the caller, who also removes it) gets:
#   ca.pem ca.key                 test CA (stands in for IGC-Sante)
#   server.pem server.key         server cert for localhost / 127.0.0.1 / ::1
#   expired.pem expired.key       same names, valid 2020-01-01 .. 2021-01-01 only
#   wronghost.pem wronghost.key   valid, signed by the test CA, for mssante.invalid only
#   client.pem client.key         client cert (clientAuth) signed by the test CA
#   other-ca.pem other-ca.key     an unrelated CA: the "wrong CA" on either side
#   other-client.pem other-client.key  client cert signed by the unrelated CA
# and `pki_make_operators DIR` (after pki_make) adds the MTA client
# certificates of the trust-boundary tests, named after the CNs of
# tests/fixtures/it-list.xml:
#   op-lille.pem   CN mx6.operateur-test.invalid, listed for chu-lille.mssante.fr
#   op-own.pem     CN mx1.operateur-test.invalid, listed for chu-test.mssante.fr
#                  (the tests' own domain: another MTA of the same operator)
#   op-new.pem     CN mx9.operateur-test.invalid, listed in no fixture (a list
#                  made by a test gives it to chu-lille.mssante.fr)
#   op-unlisted.pem CN smtp.inconnu.test, signed by the test CA, listed nowhere
#   op-rogue.pem   CN mx6.operateur-test.invalid (a listed CN), signed by the
#                  unrelated CA: an impostor that Postfix does not verify
#
# Every certificate goes through `openssl ca`, because OpenSSL 3.0 (Debian
# 12) has no way to backdate with `openssl x509` (-not_before/-not_after
# came in 3.4) and `openssl ca -startdate/-enddate` has been there forever.
# EC P-256 keys: fast to generate, understood by every TLS stack here.
# shellcheck shell=bash

pki_openssl() {
    openssl "$@" >/dev/null 2>"$PKI_DIR/openssl.err" || {
        echo "pki.sh: openssl $1 failed:" >&2
        cat "$PKI_DIR/openssl.err" >&2
        return 1
    }
}

pki_key() {
    pki_openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$PKI_DIR/$1.key"
}

# pki_ca NAME CN: a self-signed CA plus the little database `openssl ca` needs.
pki_ca() {
    local name=$1 cn=$2 db="$PKI_DIR/db-$1"
    pki_key "$name" || return 1
    pki_openssl req -x509 -new -key "$PKI_DIR/$name.key" -out "$PKI_DIR/$name.pem" \
        -days 3650 -subj "/C=FR/O=mssante-milter tests/CN=$cn" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" || return 1
    mkdir -p "$db/new" || return 1
    : >"$db/index.txt"
    echo 1000 >"$db/serial"
    cat >"$db/ca.cnf" <<EOF
[ ca ]
default_ca = this_ca
[ this_ca ]
database        = $db/index.txt
new_certs_dir   = $db/new
serial          = $db/serial
certificate     = $PKI_DIR/$name.pem
private_key     = $PKI_DIR/$name.key
default_md      = sha256
policy          = any_name
unique_subject  = no
email_in_dn     = no
[ any_name ]
commonName      = supplied
[ server ]
basicConstraints = critical,CA:FALSE
keyUsage         = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName   = \${ENV::PKI_SAN}
[ client ]
basicConstraints = critical,CA:FALSE
keyUsage         = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
EOF
}

# pki_cert CA NAME CN PROFILE [SAN] [STARTDATE ENDDATE]
pki_cert() {
    local ca=$1 name=$2 cn=$3 profile=$4 san=${5:-DNS:unused.invalid}
    local dates=(-days 30)
    [ -n "${6:-}" ] && dates=(-startdate "$6" -enddate "$7")
    pki_key "$name" || return 1
    pki_openssl req -new -key "$PKI_DIR/$name.key" -out "$PKI_DIR/$name.csr" \
        -subj "/C=FR/O=mssante-milter tests/CN=$cn" || return 1
    PKI_SAN=$san pki_openssl ca -batch -notext -config "$PKI_DIR/db-$ca/ca.cnf" \
        -extensions "$profile" -in "$PKI_DIR/$name.csr" -out "$PKI_DIR/$name.pem" \
        "${dates[@]}" || return 1
    rm -f "$PKI_DIR/$name.csr"
}

pki_make() {
    PKI_DIR=${1:?usage: pki_make DIR}
    mkdir -p "$PKI_DIR" || return 1
    local local_san="DNS:localhost,IP:127.0.0.1,IP:::1"
    pki_ca ca "mssante-milter test CA" &&
    pki_ca other-ca "unrelated test CA" &&
    pki_cert ca server localhost server "$local_san" &&
    pki_cert ca expired localhost server "$local_san" 20200101000000Z 20210101000000Z &&
    pki_cert ca wronghost mssante.invalid server "DNS:mssante.invalid" &&
    pki_cert ca client smtp.operateur.test client &&
    pki_cert other-ca other-client smtp.intrus.test client &&
    chmod 600 "$PKI_DIR"/*.key &&
    rm -f "$PKI_DIR/openssl.err"
}

pki_make_operators() {
    PKI_DIR=${1:?usage: pki_make_operators DIR}
    pki_cert ca op-lille mx6.operateur-test.invalid client &&
    pki_cert ca op-own mx1.operateur-test.invalid client &&
    pki_cert ca op-new mx9.operateur-test.invalid client &&
    pki_cert ca op-unlisted smtp.inconnu.test client &&
    pki_cert other-ca op-rogue mx6.operateur-test.invalid client &&
    chmod 600 "$PKI_DIR"/*.key &&
    rm -f "$PKI_DIR/openssl.err"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    pki_make "$@"
fi
