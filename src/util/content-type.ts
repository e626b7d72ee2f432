import { extname } from 'node:path';

const byExtension: Record<string, string> = {
  '.txt': 'text/plain; charset=utf-8', '.log': 'text/plain; charset=utf-8', '.md': 'text/markdown; charset=utf-8',
  '.html': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.csv': 'text/csv; charset=utf-8',
  '.json': 'application/json', '.xml': 'application/xml', '.pdf': 'application/pdf', '.svg': 'image/svg+xml',
  '.png': 'image/png', '.jpg': 'image/jpeg', '.gz': 'application/gzip', '.tgz': 'application/gzip',
  '.bz2': 'application/x-bzip2', '.xz': 'application/x-xz', '.zst': 'application/zstd', '.tar': 'application/x-tar',
  '.zip': 'application/zip', '.whl': 'application/zip', '.jar': 'application/java-archive',
  '.deb': 'application/vnd.debian.binary-package', '.rpm': 'application/x-rpm', '.msi': 'application/x-msi',
  '.exe': 'application/vnd.microsoft.portable-executable', '.dmg': 'application/x-apple-diskimage',
};

/** A file's content type, told by its name (an artifact's, served to browsers and `slipway artifacts`). */
export function contentTypeOf(path: string): string {
  return byExtension[extname(path).toLowerCase()] ?? 'application/octet-stream';
}
