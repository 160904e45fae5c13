# postwright audit: the one read-only fact collector (POSIX sh, run as root through sudo -n).
# A prelude written by postwright sets MARK (a per-run nonce), PORTS (the contract's
# "port/protocol/tls" triples), POSTFIX_PARAMS and DOVECOT_PARAMS (the settings the rules
# judge). Every fact is printed under "$MARK NAME"; nothing on the host is changed.
# Secrets never leave: of a private key only its mode, owner and public-key fingerprint are
# printed, of a password file only the scheme prefix of each hash.
# TEST_PATH: only the unit tests' prelude sets it (stand-in postconf/doveconf in front)
PATH=${TEST_PATH:+$TEST_PATH:}/usr/sbin:/usr/bin:/sbin:/bin
export PATH LC_ALL=C
umask 077
section() { printf '%s %s\n' "$MARK" "$1"; }
have() { command -v "$1" >/dev/null 2>&1; }
# Run one command with a bound: a hung daemon query must not hold the whole audit.
bounded() { if have timeout; then timeout 10 "$@"; else "$@"; fi; }

fingerprint_cert() {  # sha256 of the certificate and of its public key; never the key
  openssl x509 -in "$1" -noout -fingerprint -sha256 -enddate -subject -issuer \
    -ext subjectAltName 2>/dev/null
  printf 'pubkey='
  openssl x509 -in "$1" -noout -pubkey 2>/dev/null | openssl pkey -pubin -outform DER \
    2>/dev/null | sha256sum | cut -d' ' -f1
  if openssl verify -untrusted "$1" "$1" >/dev/null 2>&1; then echo 'verify=ok'
  else echo 'verify=failed'; fi
}
fingerprint_key() {  # the public half's fingerprint and size, computed on the host
  printf 'pubkey='
  openssl pkey -in "$1" -pubout -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1
  openssl pkey -in "$1" -pubout 2>/dev/null | openssl pkey -pubin -noout -text 2>/dev/null \
    | sed -n '1s/^/keyinfo=/p'
}
describe() {  # describe KIND PATH
  printf 'file %s %s\n' "$1" "$2"
  if [ ! -e "$2" ]; then echo 'missing'; return; fi
  stat -L -c 'stat=%a %U %G' "$2"
  case $1 in cert) fingerprint_cert "$2" ;; key) fingerprint_key "$2" ;; esac
}

section version
echo 1
section postconf-version
have postconf && postconf -h mail_version 2>/dev/null
section postconf-n
have postconf && postconf -n 2>/dev/null
section postconf-effective
# shellcheck disable=SC2086  # a list of parameter names on purpose
have postconf && postconf -x $POSTFIX_PARAMS 2>/dev/null
section postconf-M
have postconf && postconf -M 2>/dev/null
section postconf-lines
if have postconf; then
  dir=$(postconf -h config_directory 2>/dev/null)
  # where each main.cf setting and master.cf service is written: line numbers, names only
  grep -nE '^[a-z_0-9]+[[:space:]]*=' "$dir/main.cf" 2>/dev/null | sed 's/[[:space:]]*=.*//;s/^/main.cf:/'
  awk '/^[^#[:space:]]/ { print "master.cf:" NR ":" $1 "/" $2 }' "$dir/master.cf" 2>/dev/null
  echo "config_directory=$dir"
fi
section dovecot-version
have dovecot && dovecot --version 2>/dev/null
section doveconf-n
have doveconf && bounded doveconf -n 2>/dev/null
section doveconf-effective
# `doveconf NAME` prints `name = value` (2.4: a block for a settings group such as ssl_server);
# a name the installed release does not know prints nothing
if have doveconf; then
  for name in $DOVECOT_PARAMS; do bounded doveconf "$name" 2>/dev/null; done
  # 2.3's key setting: shown only when it names a file (`<path`), never when it holds a key
  bounded doveconf -P ssl_key 2>/dev/null | sed -n 's/^\(ssl_key = <\/.*\)/\1/p'
fi
section dovecot-lines
# file:line of the settings the rules judge (names only; values stay on the host)
if [ -d /etc/dovecot ]; then
  for name in $DOVECOT_PARAMS ssl_cert ssl_key ssl_server_cert_file ssl_server_key_file; do
    grep -rnE "^[[:space:]]*$name[[:space:]]*=" /etc/dovecot 2>/dev/null \
      | cut -d: -f1,2 | sed "s/\$/:$name/"
  done
fi
section password-schemes
if have doveconf; then
  doveconf -n 2>/dev/null | awk '
    /^ *passdb/ { inside = 1 }
    inside && /passwd_file_path =|args =/ { for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }
    /^ *}/ { inside = 0 }' | sort -u | while read -r file; do
      [ -f "$file" ] || continue
      # "{SCHEME}" and a crypt "$id$" only: the hashes stay on the host
      sed -n 's/^[^:]*:\({[A-Za-z0-9.-]*}\)\{0,1\}\(\$[0-9a-z]*\$\)\{0,1\}.*/\1\2/p' "$file" \
        | sort | uniq -c | sed "s|^|$file |"
    done
fi
section files
{
  if have postconf; then
    for p in smtpd_tls_cert_file smtpd_tls_eccert_file smtpd_tls_dcert_file; do
      v=$(postconf -xh "$p" 2>/dev/null); [ -n "$v" ] && echo "cert $v"
    done
    for p in smtpd_tls_key_file smtpd_tls_eckey_file smtpd_tls_dkey_file; do
      v=$(postconf -xh "$p" 2>/dev/null); [ -n "$v" ] && echo "key $v"
    done
    postconf -P 2>/dev/null | sed -n 's/^[^ ]*\/smtpd_tls_\(ec\)\{0,1\}cert_file = /cert /p;
      s/^[^ ]*\/smtpd_tls_\(ec\)\{0,1\}key_file = /key /p'
  fi
  if have doveconf; then
    # 2.3: ssl_cert = <FILE, ssl_key = <FILE; 2.4: ssl_server { cert_file = FILE key_file = FILE }
    { doveconf ssl_cert; doveconf ssl_server; } 2>/dev/null \
      | sed -n 's/^ssl_cert = <\{0,1\}\(\/.*\)/cert \1/p; s/^ *cert_file = \(\/.*\)/cert \1/p'
    { doveconf -P ssl_key; doveconf ssl_server; } 2>/dev/null \
      | sed -n 's/^ssl_key = <\(\/.*\)/key \1/p; s/^ *key_file = \(\/.*\)/key \1/p'
  fi
  if [ -f /etc/opendkim.conf ]; then
    sed -n 's/^KeyFile[[:space:]]\{1,\}/dkimkey /p' /etc/opendkim.conf
    table=$(sed -n 's/^KeyTable[[:space:]]\{1,\}\(refile:\|file:\)\{0,1\}//p' /etc/opendkim.conf)
    [ -f "$table" ] && awk '!/^#/ && NF >= 2 { n = split($2, f, ":"); print "dkimkey " f[n] }' "$table"
  fi
  for dir in /var/lib/rspamd/dkim /etc/rspamd/dkim; do
    [ -d "$dir" ] && find "$dir" -maxdepth 2 \( -name '*.key' -o -name '*.private' \) \
      | sed 's/^/dkimkey /'
  done
} | sort -u | while read -r kind path; do
  case $kind in dkimkey) describe key "$path"; echo 'dkim' ;; *) describe "$kind" "$path" ;; esac
done
section dkim
[ -f /etc/opendkim.conf ] && echo 'signer opendkim'
[ -f /etc/rspamd/local.d/dkim_signing.conf ] && echo 'signer rspamd'
section sockets
have ss && ss -Hltnp 2>/dev/null
section served
name=$(postconf -h myhostname 2>/dev/null || hostname -f)
for spec in $PORTS; do
  port=${spec%%/*}; rest=${spec#*/}; proto=${rest%%/*}; mode=${rest#*/}
  ss -Hltn "sport = :$port" 2>/dev/null | grep -q . || continue
  set --
  [ "$mode" = starttls ] && set -- -starttls "$proto"
  fp=$(timeout 5 openssl s_client -connect "127.0.0.1:$port" -servername "$name" "$@" \
        </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null)
  echo "$port ${fp:-none}"
done
section mailname
cat /etc/mailname 2>/dev/null
section resolvers
sed -n 's/^nameserver[[:space:]]\{1,\}//p' /etc/resolv.conf 2>/dev/null
section firewall
if have nft; then
  nft list ruleset 2>/dev/null | grep -E 'hook input|policy|dport' | sed 's/^[[:space:]]*//'
fi
section end
