/**
 * A task's script that tries to read the agent or `slipway worker` that runs it (the nearest
 * of its ancestors that is one), and the spawner that started it when there is one (its
 * parent then), as a process of its own uid may: their environment, their maps, a byte of
 * their memory, their descriptors. It prints what it looked at ("spawner: <pid>" too when it
 * found one) and what it took, and exits 3 when it took anything, 4 when no ancestor is a
 * Slipway agent (so it cannot pass by looking elsewhere).
 */
export const parentProbe = `
taken=
take_from() {
  for what in environ maps; do
    if head -c 1 /proc/$1/$what > /dev/null 2>&1; then taken="$taken $2$what"; fi
  done
  # A byte of its memory, at the address its first mapping starts (zero if its maps are closed);
  # each look may fail, and the script runs under bash -e as every task does.
  at=$(head -n 1 /proc/$1/maps 2> /dev/null | cut -d- -f1) || at=
  if [ "$(dd if=/proc/$1/mem bs=1 count=1 skip=$((0x\${at:-0})) iflag=skip_bytes 2> /dev/null | wc -c)" = 1 ]; then taken="$taken $2mem"; fi
  if ls /proc/$1/fd > /dev/null 2>&1; then taken="$taken $2fd"; fi
}
parent=$PPID
looked=
spawner=
while [ "$parent" -gt 1 ]; do
  looked=$(tr '\\0' ' ' < /proc/$parent/cmdline)
  case "$looked" in slipway-agent* | slipway-worker*) break ;; esac
  if [ "$(cat /proc/$parent/comm)" = slipway-spawner ]; then spawner=$parent; fi
  parent=$(awk '/^PPid:/ { print $2 }' /proc/$parent/status)
done
echo "looked at: $looked"
case "$looked" in slipway-agent* | slipway-worker*) ;; *) exit 4 ;; esac
take_from $parent ""
if [ -n "$spawner" ]; then
  echo "spawner: $spawner"
  take_from $spawner spawner-
fi
if [ -n "$taken" ]; then echo "taken:$taken"; exit 3; fi
`;
