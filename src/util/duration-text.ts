/** `850ms`, `2.1s`, `1m05s`, `1h02m`: short, and precise only where precision matters. */
export function formatDuration(ms: number): string {
  const rounded = Math.round(Math.max(0, ms));
  if (rounded < 1000) return `${rounded}ms`;
  // Round before choosing the unit, so 59.96s reads `1m00s` rather than `60.0s`.
  const tenths = Math.round(rounded / 100);
  if (tenths < 600) return `${(tenths / 10).toFixed(1)}s`;
  const seconds = Math.round(rounded / 1000);
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m${pad2(seconds % 60)}s`;
  const minutes = Math.floor(seconds / 60);
  return `${Math.floor(minutes / 60)}h${pad2(minutes % 60)}m`;
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}
