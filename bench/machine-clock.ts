/**
 * Milliseconds on the machine's monotonic clock, which every process reads alike: times taken
 * in two processes can be subtracted. (`performance.timeOrigin + performance.now()` cannot:
 * each process estimates its own origin, and two estimates differ by up to milliseconds.)
 */
export function machineMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}
