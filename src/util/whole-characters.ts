/** How many of `bytes` leading bytes of `text` end on a character boundary (UTF-8). */
export function wholeCharacters(text: Buffer, bytes: number): number {
  let end = Math.min(bytes, text.length);
  // A continuation byte (10xxxxxx) at the cut means the character it belongs to would be split.
  while (end > 0 && end < text.length && (text[end]! & 0xc0) === 0x80) end--;
  return end;
}
