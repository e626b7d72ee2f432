/**
 * `items` in rounds, in order, with at most one item of each key per round: operations of a
 * batch done together, where a key's second (a request sent again) must follow its first.
 * Each round is given with the items' indexes in `items`.
 */
export function* rounds<T>(items: readonly T[], keyOf: (item: T) => string): Generator<{ item: T; i: number }[]> {
  let rest = items.map((item, i) => ({ item, i }));
  while (rest.length > 0) {
    const keys = new Set<string>();
    const round: typeof rest = [];
    const later: typeof rest = [];
    for (const each of rest) {
      const key = keyOf(each.item);
      (keys.has(key) ? later : round).push(each);
      keys.add(key);
    }
    yield round;
    rest = later;
  }
}
