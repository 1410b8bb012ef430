#!/bin/sh
# mkcerts.sh: a local certificate authority and server certificates for the demo, the
# tests and the benchmark (never for production: the CA key sits next to its certificate).
#
#   sh deploy/mkcerts.sh OUTDIR [--rsa] [--stem STEM] NAME [NAME...]
#
# Creates OUTDIR/ca.crt + OUTDIR/ca.key once (ECDSA P-256, 10 years), then a server
# certificate signed by it for the SAN names given (wildcards allowed: '*.hostess.localhost'),
# written as OUTDIR/certs/STEM.crt (the leaf alone: the CA is the root, which clients hold) and OUTDIR/certs/STEM.key.
# STEM defaults to the first name with '*' spelled 'wildcard' ("default" makes it the
# edge's default certificate). The key is ECDSA P-256 unless --rsa (RSA 2048) is given.
# Clients trust it with: curl --cacert OUTDIR/ca.crt ...
set -eu

usage() {
    echo "usage: mkcerts.sh OUTDIR [--rsa] [--stem STEM] [--days N] NAME [NAME...]" >&2
    exit 2
}

[ $# -ge 2 ] || usage
out=$1
shift
keytype=ec stem='' days=825
while [ $# -gt 0 ]; do
    case $1 in
    --rsa) keytype=rsa ;;
    --stem) [ $# -ge 2 ] || usage; stem=$2; shift ;;
    --days) [ $# -ge 2 ] || usage; days=$2; shift ;;
    --*) usage ;;
    *) break ;;
    esac
    shift
done
[ $# -ge 1 ] || usage
[ -n "$stem" ] || stem=$(printf '%s' "$1" | sed 's/\*/wildcard/')

mkdir -p "$out/certs"
umask 077
if [ ! -s "$out/ca.key" ] || [ ! -s "$out/ca.crt" ]; then
    openssl ecparam -name prime256v1 -genkey -noout -out "$out/ca.key"
    openssl req -x509 -new -key "$out/ca.key" -sha256 -days 3650 \
        -subj "/CN=Hostess Edge local CA" \
        -addext "basicConstraints=critical,CA:true" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$out/ca.crt" 2>/dev/null
fi

san=''
for n in "$@"; do
    san="${san:+$san,}DNS:$n"
done
key="$out/certs/$stem.key"
if [ "$keytype" = rsa ]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$key" 2>/dev/null
else
    openssl ecparam -name prime256v1 -genkey -noout -out "$key"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
openssl req -new -key "$key" -subj "/CN=$1" -out "$tmp/req.csr"
printf 'subjectAltName=%s\nbasicConstraints=critical,CA:false\nkeyUsage=critical,digitalSignature%s\nextendedKeyUsage=serverAuth\n' \
    "$san" "$([ "$keytype" = rsa ] && echo ',keyEncipherment')" > "$tmp/ext.cnf"
openssl x509 -req -in "$tmp/req.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
    -CAcreateserial -CAserial "$tmp/ca.srl" -days "$days" -sha256 \
    -extfile "$tmp/ext.cnf" -out "$tmp/leaf.crt" 2>/dev/null
cp "$tmp/leaf.crt" "$out/certs/$stem.crt"
chmod 644 "$out/ca.crt" "$out/certs/$stem.crt"
echo "$out/certs/$stem.crt ($keytype): $*"
