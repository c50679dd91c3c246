#!/bin/sh
# clawpatrol tunnel: the one privileged step of `clawpatrol tunnel up|down` and of WireGuard
# enrolment (`agent add --wireguard`, `agent revoke`). Run as root (directly or through sudo); the
# gateway itself never needs it. It only touches this host's network; read it before granting it.
#
#   tunnel.sh up --interface IF --address A/N --listen-port P --vip-range R --dns IP --ports "P ..."
#                [--dns-port P] [--port-offset N]
#       stdin: the interface's private key on the first line, then one "PUBLIC_KEY ADDRESS" per peer
#   tunnel.sh down --interface IF
#   tunnel.sh peer-add --interface IF --public-key K --peer-address IP
#   tunnel.sh peer-remove --interface IF --public-key K
#   tunnel.sh show --interface IF          (`wg show IF dump`: handshakes and bytes)
#
# up:
#   - the WireGuard interface IF: kernel WireGuard when the kernel has it, else `wireguard-go`;
#     the private key goes to `wg` through stdin, never argv or a file; the peers each get their
#     one tunnel address (cryptokey routing: a peer can send from no other);
#   - IF gets address A/N, no IPv6, no forwarding, strict reverse-path filtering;
#   - `ip route replace local R dev lo`: the virtual IPs are this host's, so the gateway (an
#     ordinary process) listens on them;
#   - nftables tables `clawpatrol_wg_IF` (written by `isolate.sh firewall`, as for isolated runs):
#     from IF only TCP to R on the gateway's ports and DNS to its responder are accepted (mapped
#     up by the port offset, when there is one), the rest refused; nothing is forwarded from or to
#     IF. This host never carries tunnel traffic anywhere but to its own listeners. Without
#     nftables, `up` refuses when the host forwards IPv4 (net.ipv4.ip_forward = 1).
# down: removes IF and the table (the route stays: other tunnels and isolated runs use it).
set -eu

die() {
  echo "tunnel.sh: $*" >&2
  exit 2
}

command=${1:-}
[ $# -gt 0 ] && shift
iface= address= listen_port= vip_range= dns= ports= public_key= peer_address=
dns_port=53 port_offset=0
while [ $# -gt 0 ]; do
  case $1 in
    --interface) iface=$2 ;;
    --address) address=$2 ;;
    --listen-port) listen_port=$2 ;;
    --vip-range) vip_range=$2 ;;
    --dns) dns=$2 ;;
    --ports) ports=$2 ;;
    --public-key) public_key=$2 ;;
    --peer-address) peer_address=$2 ;;
    --dns-port) dns_port=$2 ;;
    --port-offset) port_offset=$2 ;;
    *) die "unknown option '$1'" ;;
  esac
  shift 2
done

ipv4='^[0-9]{1,3}(\.[0-9]{1,3}){3}$'
cidr='^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$'
key='^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$'
check() { printf '%s' "$2" | grep -Eq "$3" || die "$1 '$2' is not valid"; }
check --interface "$iface" '^[A-Za-z0-9_.-]{1,15}$'
table=clawpatrol_wg_$(printf '%s' "$iface" | tr 'A-Z' 'a-z' | tr -c 'a-z0-9_' _)
here=$(cd "$(dirname "$0")" && pwd -P)

up() {
  check --address "$address" "$cidr"
  check --listen-port "$listen_port" '^[0-9]{1,5}$'
  check --vip-range "$vip_range" "$cidr"
  check --dns "$dns" "$ipv4"
  check --ports "$ports" '^[0-9]{1,5}( [0-9]{1,5})*$'
  if ! command -v nft >/dev/null 2>&1 && [ "$(cat /proc/sys/net/ipv4/ip_forward)" = 1 ]; then
    die "this host forwards IPv4 and nftables is missing: tunnel traffic could leak past the gateway"
  fi
  IFS= read -r private_key || die "stdin must start with the interface's private key"
  check "private key" "$private_key" "$key"
  if ! ip link show "$iface" >/dev/null 2>&1; then
    ip link add "$iface" type wireguard 2>/dev/null || wireguard-go "$iface" >/dev/null 2>&1 ||
      die "cannot create $iface: no WireGuard in the kernel and wireguard-go failed"
  fi
  printf '%s\n' "$private_key" | wg set "$iface" private-key /dev/stdin listen-port "$listen_port"
  while read -r peer peer_ip; do
    [ -n "$peer" ] || continue
    check "peer key" "$peer" "$key"
    check "peer address" "$peer_ip" "$ipv4"
    wg set "$iface" peer "$peer" allowed-ips "$peer_ip/32"
  done
  sysctl -qw "net.ipv6.conf.$iface.disable_ipv6=1" 2>/dev/null || true
  sysctl -qw "net.ipv4.conf.$iface.forwarding=0"
  sysctl -qw "net.ipv4.conf.$iface.rp_filter=1"
  ip addr replace "$address" dev "$iface"
  ip link set "$iface" up
  ip route replace local "$vip_range" dev lo
  if command -v nft >/dev/null 2>&1; then
    # The same firewall as isolated runs', for this one interface (isolate.sh, beside this file).
    sh "$here/isolate.sh" firewall --table "$table" --iif "$iface" --vip-range "$vip_range" \
      --dns "$dns" --dns-port "$dns_port" --ports "$ports" --port-offset "$port_offset"
  fi
}

down() {
  ip link del "$iface" 2>/dev/null || true
  nft delete table inet "$table" 2>/dev/null || true
  nft delete table ip "$table" 2>/dev/null || true
}

[ "$(id -u)" = 0 ] || die "must run as root (sudo): it changes this host's network"
case $command in
  up) up ;;
  down) down ;;
  peer-add)
    check --public-key "$public_key" "$key"
    check --peer-address "$peer_address" "$ipv4"
    wg set "$iface" peer "$public_key" allowed-ips "$peer_address/32"
    ;;
  peer-remove)
    check --public-key "$public_key" "$key"
    wg set "$iface" peer "$public_key" remove
    ;;
  show) wg show "$iface" dump ;;
  *) die "usage: tunnel.sh up|down|peer-add|peer-remove|show [options] (see the comment at its top)" ;;
esac
