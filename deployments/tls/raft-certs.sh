#!/bin/sh
# raft-certs.sh DIR NAME=HOST[,HOST...] ...
#
# Makes the certificates of Raft's mutual TLS for a cluster of evlog
# nodes: a CA (DIR/ca.crt, its key DIR/ca.key) used for Raft alone, and
# for each NAME a certificate DIR/NAME.crt and key DIR/NAME.key, signed
# by the CA, naming every HOST (the addresses the other nodes dial, as
# DNS names or IP addresses) and allowing both server and client use.
# Keys are ECDSA P-256; certificates last DAYS days (default 825). The
# node keys get mode KEY_MODE (default 600): a container that runs as
# another user than the files' owner, reading them from a bind mount,
# needs them readable to it (compose.cluster.yaml says how).
#
#   deployments/tls/raft-certs.sh deployments/compose/raft-certs \
#     evlog-1=evlog-1 evlog-2=evlog-2 evlog-3=evlog-3
#
# The keys are secrets: never commit them. Keep ca.key off the nodes;
# it is needed only to sign another node's certificate, which reusing
# DIR does (an existing CA is kept). Requires openssl.
set -eu

if [ $# -lt 2 ]; then
	echo "usage: $0 DIR NAME=HOST[,HOST...] ..." >&2
	exit 2
fi
dir=$1
shift
days=${DAYS:-825}
mkdir -p "$dir"
umask 077

if [ ! -f "$dir/ca.key" ]; then
	openssl ecparam -name prime256v1 -genkey -noout -out "$dir/ca.key"
	openssl req -x509 -new -key "$dir/ca.key" -sha256 -days "$days" \
		-subj "/CN=evlog raft CA" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-out "$dir/ca.crt"
fi

for spec in "$@"; do
	name=${spec%%=*}
	hosts=${spec#*=}
	case $name in
	"" | *[!A-Za-z0-9_-]*)
		echo "$0: $spec: NAME must be letters, digits, - and _" >&2
		exit 2
		;;
	esac
	if [ "$name" = "$spec" ] || [ -z "$hosts" ]; then
		echo "$0: $spec: want NAME=HOST[,HOST...]" >&2
		exit 2
	fi
	san=""
	for h in $(echo "$hosts" | tr ',' ' '); do
		case $h in
		*[!0-9.]*) entry="DNS:$h" ;; # not a dotted IPv4 address
		*) entry="IP:$h" ;;
		esac
		san="${san:+$san,}$entry"
	done
	ext=$(mktemp)
	trap 'rm -f "$ext"' EXIT
	printf '%s\n' \
		"basicConstraints=critical,CA:FALSE" \
		"keyUsage=critical,digitalSignature" \
		"extendedKeyUsage=serverAuth,clientAuth" \
		"subjectAltName=$san" >"$ext"
	openssl ecparam -name prime256v1 -genkey -noout -out "$dir/$name.key"
	openssl req -new -key "$dir/$name.key" -subj "/CN=$name" -out "$dir/$name.csr"
	openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
		-CAcreateserial -sha256 -days "$days" -extfile "$ext" -out "$dir/$name.crt" 2>/dev/null
	rm -f "$dir/$name.csr" "$ext"
done
# The certificates are public, the keys are not.
chmod 644 "$dir"/*.crt
chmod "${KEY_MODE:-600}" "$dir"/*.key
chmod 600 "$dir/ca.key"
