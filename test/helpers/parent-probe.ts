/**
 * A task's script that tries to read the agent or `slipway worker` that runs it (the nearest
 * of its ancestors that is one) as a process of its own uid may: its environment, its maps,
 * a byte of its memory, its descriptors. It prints what it looked at and what it took, and
 * exits 3 when it took anything, 4 when no ancestor is a Slipway process (so it cannot pass
 * by looking elsewhere).
 */
export const parentProbe = `
parent=$PPID
looked=
while [ "$parent" -gt 1 ]; do
  looked=$(tr '\\0' ' ' < /proc/$parent/cmdline)
  case "$looked" in slipway-agent* | slipway-worker*) break ;; esac
  parent=$(awk '/^PPid:/ { print $2 }' /proc/$parent/status)
done
echo "looked at: $looked"
case "$looked" in slipway-agent* | slipway-worker*) ;; *) exit 4 ;; esac
taken=
for what in environ maps; do
  if head -c 1 /proc/$parent/$what > /dev/null 2>&1; then taken="$taken $what"; fi
done
# A byte of its memory, at the address its first mapping starts (zero if its maps are closed);
# each look may fail, and the script runs under bash -e as every task does.
at=$(head -n 1 /proc/$parent/maps 2> /dev/null | cut -d- -f1) || at=
if [ "$(dd if=/proc/$parent/mem bs=1 count=1 skip=$((0x\${at:-0})) iflag=skip_bytes 2> /dev/null | wc -c)" = 1 ]; then taken="$taken mem"; fi
if ls /proc/$parent/fd > /dev/null 2>&1; then taken="$taken fd"; fi
if [ -n "$taken" ]; then echo "taken:$taken"; exit 3; fi
`;
