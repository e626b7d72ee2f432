/** `HOST:PORT` as `--listen` and `[server] listen` take it; an IPv6 host goes in brackets. */
export function parseListen(listen: string): { host: string; port: number } | undefined {
  const match = listen.match(/^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/);
  const port = Number(match?.[2]);
  if (!match || port > 65535) return undefined;
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

/** A URL as `--public-url` and `[server] public_url` take it: http(s), a host, a port and a path of plain characters. */
export function isPublicUrl(text: string): boolean {
  return /^https?:\/\/(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?(\/[A-Za-z0-9._~/-]*)?$/.test(text);
}
