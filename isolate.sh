#!/bin/sh
# clawpatrol isolate: the one privileged step of `clawpatrol run --isolate` (DESIGN.md §9). Run as
# root (directly or through sudo); the gateway itself never needs it. It only touches the network
# of this host and a namespace of its own making; read it top to bottom before granting it.
#
#   isolate.sh prepare   --vip-range R --link-range L --dns IP --ports "P ..."
#                        [--dns-port P] [--port-offset N]
#   isolate.sh unprepare --vip-range R --link-range L
#   isolate.sh firewall  --table T --iif IF --vip-range R --dns IP --ports "P ..." [...]
#                        (tunnel.sh's, for its interface)
#   isolate.sh run --name N --vip-range R --link-range L --dns IP --ports "P ..." \
#                  --peer IP --address IP --uid U --gid G --files DIR
#
# prepare (this host, idempotent; once before the gateway starts, and again by every run):
#   - `ip route replace local R dev lo`: the virtual IPs are this host's, so the gateway (an
#     ordinary process) can listen on them;
#   - nftables tables `clawpatrol_<id>` (id from L): from the isolated links (interfaces
#     `cp<id>*`), only TCP to R on the gateway's ports and DNS to the responder are accepted;
#     everything else is refused (TCP reset, ICMP otherwise), and nothing from or to them is
#     forwarded. With --port-offset N a port P below 1024 they dial on R is mapped to P+N (and 53
#     to the responder's --dns-port), address unchanged: the gateway then needs no privilege.
# run (one namespace for one command, removed when it ends, whatever ends it):
#   - network namespace `N`, joined to this host's by a veth pair: this side `cp<id>-<n>` with
#     address PEER/31 (no forwarding, no IPv6, strict reverse-path filtering), the namespace's
#     side `eth0` with ADDRESS/31; its only route is R via PEER; no IPv6 at all;
#   - /etc/netns/N/resolv.conf naming the gateway's responder (IP), and a plain /etc/hosts;
#   - COMMAND then runs in that namespace, in new mount and PID namespaces with fresh /tmp and
#     /run (hiding other programs' sockets: the system bus, docker, local databases), as UID:GID
#     with no capabilities, no supplementary groups and no_new_privs: it cannot change its routes,
#     its resolver or its namespace. DIR/environ is the command with its environment; the agent's
#     CA, CA bundle, wgetrc and kubeconfig in DIR (no secrets) are copied to /tmp/clawpatrol.
# unprepare: removes the route and the tables.
set -eu

die() {
  echo "isolate.sh: $*" >&2
  exit 2
}

name= vip_range= link_range= dns= ports= peer= address= uid= gid= files=
dns_port=53 port_offset=0 table= iif=
command=${1:-}
[ $# -gt 0 ] && shift
while [ $# -gt 0 ]; do
  case $1 in
    --name) name=$2 ;;
    --vip-range) vip_range=$2 ;;
    --link-range) link_range=$2 ;;
    --dns) dns=$2 ;;
    --ports) ports=$2 ;;
    --peer) peer=$2 ;;
    --address) address=$2 ;;
    --uid) uid=$2 ;;
    --gid) gid=$2 ;;
    --files) files=$2 ;;
    --dns-port) dns_port=$2 ;;
    --port-offset) port_offset=$2 ;;
    --table) table=$2 ;;
    --iif) iif=$2 ;;
    *) die "unknown option '$1'" ;;
  esac
  shift 2
done

# Every value reaches ip, nft or a path: only the characters each may hold get through.
ipv4='^[0-9]{1,3}(\.[0-9]{1,3}){3}$'
cidr='^[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}$'
check() { printf '%s' "$2" | grep -Eq "$3" || die "$1 '$2' is not valid"; }
check --vip-range "$vip_range" "$cidr"

# The firewall of a set of agent-side interfaces (IIF, a name or `prefix*`) as table TABLE: TCP to
# the virtual IPs on the gateway's ports and DNS to its responder pass, the rest is refused, and
# nothing from or to them is forwarded. With a port offset (or a responder off port 53), what
# agents dial is first mapped to where the unprivileged gateway listens, the address unchanged.
firewall() {
  check --table "$table" '^[a-z0-9_]{1,40}$'
  check --iif "$iif" '^[A-Za-z0-9_.-]{1,15}[*]?$'
  check --dns "$dns" "$ipv4"
  check --dns-port "$dns_port" '^[0-9]{1,5}$'
  check --ports "$ports" '^[0-9]{1,5}( [0-9]{1,5})*$'
  check --port-offset "$port_offset" '^[0-9]{1,5}$'
  # Only ports below 1024 move: the gateway listens on the others as they are.
  listened='' map='' moved=''
  for port in $ports; do
    to=$port
    if [ "$port" -lt 1024 ]; then to=$((port + port_offset)); fi
    listened="$listened${listened:+,}$to"
    if [ "$to" != "$port" ]; then
      moved="$moved${moved:+,}$port"
      map="$map${map:+, }$port : $to"
    fi
  done
  # Replaced whole in one transaction: a run never sees half a table.
  {
    cat <<EOF
table inet $table
delete table inet $table
table inet $table {
  chain input {
    type filter hook input priority filter - 10; policy accept;
    iifname "$iif" ip daddr $vip_range tcp dport { $listened } accept
    iifname "$iif" ip daddr $dns meta l4proto { tcp, udp } th dport $dns_port accept
    iifname "$iif" meta l4proto tcp reject with tcp reset
    iifname "$iif" reject
  }
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    iifname "$iif" drop
    oifname "$iif" drop
  }
}
table ip $table
delete table ip $table
EOF
    if [ -n "$moved" ] || [ "$dns_port" != 53 ]; then
      echo "table ip $table {"
      echo "  chain prerouting {"
      echo "    type nat hook prerouting priority dstnat; policy accept;"
      if [ -n "$moved" ]; then
        echo "    iifname \"$iif\" ip daddr $vip_range tcp dport { $moved } dnat to ip daddr : tcp dport map { $map }"
      fi
      if [ "$dns_port" != 53 ]; then
        echo "    iifname \"$iif\" ip daddr $dns meta l4proto { tcp, udp } th dport 53 dnat to $dns:$dns_port"
      fi
      echo "  }"
      echo "}"
    fi
  } | nft -f -
}

if [ "$command" = firewall ] || [ "$command" = unfirewall ]; then
  [ "$(id -u)" = 0 ] || die "must run as root (sudo): it changes this host's firewall"
  check --table "$table" '^[a-z0-9_]{1,40}$'
  if [ "$command" = firewall ]; then firewall; else
    nft delete table inet "$table" 2>/dev/null || true
    nft delete table ip "$table" 2>/dev/null || true
  fi
  exit 0
fi

check --link-range "$link_range" "$cidr"
# One id per gateway (its link range): its interfaces and its tables, apart from another's.
id=$(printf '%s' "$link_range" | sha256sum | cut -c1-4)
table=clawpatrol_$id
prefix=cp$id
iif="$prefix*"

prepare() {
  ip route replace local "$vip_range" dev lo
  firewall
}

unprepare() {
  ip route del local "$vip_range" dev lo 2>/dev/null || true
  nft delete table inet "$table" 2>/dev/null || true
  nft delete table ip "$table" 2>/dev/null || true
}

run() {
  check --name "$name" '^[a-z0-9][a-z0-9-]{0,30}$'
  check --peer "$peer" "$ipv4"
  check --address "$address" "$ipv4"
  check --uid "$uid" '^[0-9]+$'
  check --gid "$gid" '^[0-9]+$'
  [ -f "$files/environ" ] || die "--files DIR must hold the command's environ file"
  host_if=$prefix-$(printf '%s' "$name" | sha256sum | cut -c1-8)
  prepare
  trap 'down' EXIT
  ip netns add "$name"
  ip link add "$host_if" type veth peer name eth0 netns "$name"
  sysctl -qw "net.ipv6.conf.$host_if.disable_ipv6=1"
  sysctl -qw "net.ipv4.conf.$host_if.forwarding=0"
  sysctl -qw "net.ipv4.conf.$host_if.rp_filter=1"
  ip addr add "$peer/31" dev "$host_if"
  ip link set "$host_if" up
  ip netns exec "$name" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
  ip netns exec "$name" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
  ip -n "$name" link set lo up
  ip -n "$name" addr add "$address/31" dev eth0
  ip -n "$name" link set eth0 up
  ip -n "$name" route add "$vip_range" via "$peer" dev eth0
  mkdir -p "/etc/netns/$name"
  printf 'nameserver %s\noptions attempts:2 timeout:3\n' "$dns" >"/etc/netns/$name/resolv.conf"
  printf '127.0.0.1 localhost\n' >"/etc/netns/$name/hosts"
  # In the background, so a signal to this script reaches the command before the namespace goes.
  ip netns exec "$name" unshare --pid --fork --kill-child=SIGTERM --mount-proc \
    bash -c "$inner" isolate "$uid" "$gid" "$files" "$dns" &
  child=$!
  trap 'kill -TERM $child 2>/dev/null' TERM HUP
  trap 'kill -INT $child 2>/dev/null' INT
  status=0
  while :; do
    wait "$child" && status=0 || status=$?
    kill -0 "$child" 2>/dev/null || break
  done
  exit "$status"
}

# Runs as PID 1 of the command's PID namespace, as root (bash: it reads NUL-separated items):
# fresh /tmp and /run, the agent's files, then the command as UID:GID with nothing to spare and
# exactly the environment in FILES/environ, its exit status passed on. FILES/environ holds the
# number of variables, the variables (NAME=VALUE), then the command and its arguments; it stays
# out of every argv, where other users of this host could read it.
inner='
set -eu
uid=$1 gid=$2 files=$3 dns=$4
setpriv=$(command -v setpriv)
resolv=$(readlink -f /etc/resolv.conf)
cwd=$(pwd)
# Read before the mounts: DIR may itself be under /tmp or /run.
mapfile -d "" -t items <"$files/environ"
count=${items[0]}
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
mkdir /run/clawpatrol
for f in ca.pem ca-bundle.pem wgetrc kubeconfig; do
  if [ -f "$files/$f" ]; then cp "$files/$f" /run/clawpatrol/; fi
done
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mv /run/clawpatrol /tmp/clawpatrol
chown -R "$uid:$gid" /tmp/clawpatrol
# A resolv.conf that links into /run (systemd-resolved) would now point at nothing.
case $resolv in /run/*)
  mkdir -p "$(dirname "$resolv")"
  printf "nameserver %s\n" "$dns" >"$resolv" ;;
esac
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /dev/shm 2>/dev/null || true
for name in $(compgen -e); do unset "$name" 2>/dev/null || true; done
for ((i = 1; i <= count; i++)); do export "${items[i]}"; done
# The caller'"'"'s directory, unless the fresh /tmp or /run now hides it: then home, or /.
cd "$cwd" 2>/dev/null || cd "${HOME:-/}" 2>/dev/null || cd /
"$setpriv" --reuid "$uid" --regid "$gid" --clear-groups --inh-caps=-all --bounding-set=-all \
  --no-new-privs -- "${items[@]:count+1}" &
child=$!
trap "kill -TERM $child 2>/dev/null" TERM HUP
trap "kill -INT $child 2>/dev/null" INT
status=0
while :; do
  wait "$child" && status=0 || status=$?
  kill -0 "$child" 2>/dev/null || break
done
exit "$status"
'

down() {
  trap - EXIT
  ip netns pids "$name" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
  ip link del "$host_if" 2>/dev/null || true
  ip netns del "$name" 2>/dev/null || true
  rm -rf "/etc/netns/$name"
}

[ "$(id -u)" = 0 ] || die "must run as root (sudo): it creates a network namespace"
case $command in
  prepare) prepare ;;
  unprepare) unprepare ;;
  run) run "$@" ;;
  *) die "usage: isolate.sh prepare|unprepare|run [options] (see the comment at its top)" ;;
esac
