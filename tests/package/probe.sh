#!/bin/bash
# Runs inside the booted Debian 12 container (tests/package/systemd_test.sh)
# as the oneshot unit cybexp-probe.service: checks the installed package as an
# operator would, writes one line per assertion to /results/results.txt
# ("PASS name: detail" or "FAIL name: detail"), then powers the container off.
# Usage: probe.sh UPGRADE_DEB
set -u
upgrade_deb=$1
out=/results/results.txt
log=/results/probe.log
: >"$out"
exec >>"$log" 2>&1
trap 'echo "probe: finished"; journalctl -b --no-pager >/results/journal.txt 2>&1; echo DONE >>"$out"; systemctl poweroff --no-block' EXIT

conf=/etc/cybexp/archive.json
samples=/usr/share/doc/cybexp-archive/sample-data
cx() { runuser -u cybexp -- cybexp-archive -c "$conf" "$@"; }
check() {  # check NAME CONDITION-RESULT(0/1) DETAIL
  local name=$1 ok=$2 detail=$3
  if [ "$ok" = 0 ]; then echo "PASS $name: $detail" >>"$out"; else echo "FAIL $name: $detail" >>"$out"; fi
  echo "probe: $name -> $ok ($detail)"
}
status_field() { cx status --json | sed -n "s/.*\"$1\": *\([0-9]*\).*/\1/p"; }
# wait_for SECONDS COMMAND...: until COMMAND succeeds; 0 if it did.
wait_for() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $deadline ] || return 1; sleep 1; done
}
processed_at_least() { local n; n=$(status_field processed); [ "${n:-0}" -ge "$1" ]; }
service_pid() { systemctl show -p MainPID --value cybexp-archive; }
active() { [ "$(systemctl is-active cybexp-archive)" = active ]; }
restarted_from() { local p; p=$(service_pid); active && [ "$p" != 0 ] && [ "$p" != "$1" ]; }
daemon_running() {  # minbase has no procps (pgrep)
  local c
  for c in /proc/[0-9]*/comm; do [ "$(cat "$c" 2>/dev/null)" = cybexp-archive ] && return 0; done
  return 1
}
sha() { sha256sum "$1" 2>/dev/null | cut -c1-16; }

# This unit runs after multi-user.target (so `is-system-running --wait` would
# wait for it); the service, wanted by that target, has been started by then.
# Only a start still under way (Type=notify: until READY=1) is waited for.
settled() { case $(systemctl show -p ActiveState --value cybexp-archive) in activating | reloading) return 1 ;; esac; }
wait_for 60 settled
echo "probe: boot done, system $(systemctl is-system-running)"

# 1. Enabled and started by the package, with no hand step.
en=$(systemctl is-enabled cybexp-archive 2>&1); act=$(systemctl is-active cybexp-archive 2>&1)
[ "$en" = enabled ] && [ "$act" = active ]; check service-enabled-and-active $? "is-enabled=$en is-active=$act"

st=$(stat -c '%a %U:%G' /etc/cybexp/priv.pem 2>&1); pst=$(stat -c '%a %U:%G' /etc/cybexp/pub.pem 2>&1)
[ "$st" = "600 cybexp:cybexp" ] && [ "$pst" = "644 root:root" ]; check key-pair-made $? "priv.pem $st, pub.pem $pst"
cst=$(stat -c '%a %U:%G' "$conf" 2>&1); dst=$(stat -c '%a %U:%G' /var/lib/cybexp 2>&1)
[ "$cst" = "640 root:cybexp" ] && [ "$dst" = "700 cybexp:cybexp" ]; check config-and-data-permissions $? "$conf $cst, /var/lib/cybexp $dst"
missing=""
for f in /usr/bin/cybexp-archive /usr/share/man/man1/cybexp-archive.1.gz \
         /usr/share/bash-completion/completions/cybexp-archive /usr/lib/sysusers.d/cybexp-archive.conf \
         /usr/share/doc/cybexp-archive/README.md /usr/share/doc/cybexp-archive/PACKAGING.md /usr/share/doc/cybexp-archive/OPERATIONS.md \
         $samples/honeypot-event.json $samples/openphish-feed.txt; do
  [ -e "$f" ] || missing="$missing $f"
done
[ -z "$missing" ]; check files-installed $? "${missing:-all there}"
dpkg-query -W -f='${Conffiles}\n' cybexp-archive | grep -q " $conf "; check config-is-conffile $? "$conf"

# 2. Two sample uploads, submitted as the service user, get archived by the service.
ids=$( { cx submit --typetag unr-honeypot --orgid identity--example-org --timezone US/Pacific "$samples/honeypot-event.json" &&
         cx submit --typetag openphish_feed --orgid identity--example-org "$samples/openphish-feed.txt"; } 2>&1 | tr '\n' ' ')
wait_for 90 processed_at_least 2
ok=$?; docs=$(status_field documents)
[ $ok = 0 ] && [ "${docs:-0}" -ge 2 ]; check samples-archived $? "submitted ids: $ids; processed=$(status_field processed) documents=$docs pending=$(status_field pending)"

# 3. Exposure as systemd-analyze rates it.
exposure=$(systemd-analyze security cybexp-archive.service 2>&1 | sed -n 's/.*Overall exposure level for cybexp-archive.service: *\([0-9.]*\).*/\1/p')
awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 2.0) }'; check security-exposure-at-most-2.0 $? "exposure ${exposure:-unknown}"

# 4. A stopped (SIGSTOP) daemon is killed by the watchdog and started again.
pid=$(service_pid); before=$(systemctl show -p NRestarts --value cybexp-archive)
kill -STOP "$pid"; t0=$SECONDS
wait_for 120 restarted_from "$pid"; ok=$?
after=$(systemctl show -p NRestarts --value cybexp-archive)
journalctl -u cybexp-archive --no-pager | grep -q 'Watchdog timeout'; wd=$?
[ $ok = 0 ] && [ $wd = 0 ] && [ "$after" -gt "$before" ]
check watchdog-restarts-stopped-daemon $? "pid $pid -> $(service_pid) after $((SECONDS - t0)) s, NRestarts $before -> $after, journal watchdog line: $([ $wd = 0 ] && echo yes || echo no)"

# 5. A clean stop.
systemctl stop cybexp-archive
res=$(systemctl show -p Result --value cybexp-archive); as=$(systemctl is-active cybexp-archive)
[ "$res" = success ] && [ "$as" = inactive ]; check stop-result-success $? "Result=$res ActiveState=$as"
systemctl start cybexp-archive

# 6. Upgrade to a rebuilt package: data, keys and an edited config are kept; the service restarts.
sed -i 's/"lease_seconds": 300/"lease_seconds": 240/' "$conf"
k0=$(sha /etc/cybexp/priv.pem); c0=$(sha "$conf"); d0=$(status_field documents); p0=$(status_field processed)
pid=$(service_pid)
DEBIAN_FRONTEND=noninteractive apt-get install -y "$upgrade_deb" >/results/upgrade.log 2>&1; rc=$?
ver=$(dpkg-query -W -f='${Version}' cybexp-archive)
check upgrade-installs $rc "apt-get install $upgrade_deb: exit $rc, version now $ver"
wait_for 30 active
k1=$(sha /etc/cybexp/priv.pem); c1=$(sha "$conf"); d1=$(status_field documents); p1=$(status_field processed)
[ "$d1" = "$d0" ] && [ "$p1" = "$p0" ] && [ "${d1:-0}" -ge 2 ]; check upgrade-keeps-data $? "documents $d0 -> $d1, processed $p0 -> $p1"
[ -n "$k0" ] && [ "$k1" = "$k0" ] && [ "$c1" = "$c0" ] && grep -q '"lease_seconds": 240' "$conf"
check upgrade-keeps-keys-and-edited-config $? "priv.pem $k0 -> $k1, archive.json $c0 -> $c1"
npid=$(service_pid); active; ok=$?
[ $ok = 0 ] && [ "$npid" != "$pid" ]; check upgrade-restarts-service $? "pid $pid -> $npid, is-active=$(systemctl is-active cybexp-archive)"
cx submit --typetag sighting --orgid identity--example-org "$samples/sighting.json" >/dev/null 2>&1
wait_for 90 processed_at_least 3; check archives-after-upgrade $? "processed=$(status_field processed) documents=$(status_field documents)"

# 7. Remove stops the service and keeps configuration, keys and data.
DEBIAN_FRONTEND=noninteractive apt-get remove -y cybexp-archive >/results/remove.log 2>&1; rc=$?
as=$(systemctl is-active cybexp-archive 2>&1); daemon_running; running=$?
[ $rc = 0 ] && [ "$as" != active ] && [ $running = 1 ] && [ -e "$conf" ] && [ -e /etc/cybexp/priv.pem ] && [ -e /var/lib/cybexp/archive.db ]
check remove-stops-and-keeps $? "exit $rc, is-active=$as, process left: $([ $running = 0 ] && echo yes || echo no), config/keys/data kept: $(ls /etc/cybexp /var/lib/cybexp 2>&1 | tr '\n' ' ')"

# 8. Purge: configuration and keys go; the data stays, and the output says where.
DEBIAN_FRONTEND=noninteractive apt-get purge -y cybexp-archive >/results/purge.log 2>&1; rc=$?
[ $rc = 0 ] && [ ! -e /etc/cybexp ] && [ -e /var/lib/cybexp/archive.db ] && grep -q 'kept in /var/lib/cybexp' /results/purge.log
check purge-keeps-data-and-says-where $? "exit $rc, /etc/cybexp: $(ls -d /etc/cybexp 2>&1 | head -1), data: $(ls /var/lib/cybexp 2>&1 | tr '\n' ' '), message: $(grep -o 'kept in /var/lib/cybexp' /results/purge.log | head -1)"

# 9. Asked for (CYBEXP_PURGE_DATA=yes), purge removes the data too.
DEBIAN_FRONTEND=noninteractive apt-get install -y "$upgrade_deb" >/results/reinstall.log 2>&1; rc1=$?
wait_for 30 active; a=$?
DEBIAN_FRONTEND=noninteractive CYBEXP_PURGE_DATA=yes apt-get purge -y cybexp-archive >/results/purge-data.log 2>&1; rc2=$?
[ $rc1 = 0 ] && [ $a = 0 ] && [ $rc2 = 0 ] && [ ! -e /var/lib/cybexp ] && [ ! -e /etc/cybexp ]
check purge-with-CYBEXP_PURGE_DATA-removes-data $? "reinstall exit $rc1 (active: $([ $a = 0 ] && echo yes || echo no)), purge exit $rc2, /var/lib/cybexp: $(ls -d /var/lib/cybexp 2>&1 | head -1)"
