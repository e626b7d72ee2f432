/** `Ann Smith <ann@example.com>` as `Ann Smith`: lists have no room for addresses. */
export function authorName(author: string): string {
  return author.replace(/\s*<[^>]*>\s*$/, '') || author;
}
