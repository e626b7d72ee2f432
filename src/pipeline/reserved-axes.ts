/**
 * Names a JavaScript object keeps for itself: as a key, `__proto__` sets the object's
 * prototype (the key and its values vanish without a word), while `constructor` and
 * `prototype` shadow what every object has. Axes are keys of the matrix and of a
 * selection's `set`, so these names are refused as axes wherever one is named.
 */
const RESERVED = new Set(['__proto__', 'constructor', 'prototype']);

/** Why `axis` cannot name an axis, or undefined when it can. */
export function reservedAxis(axis: string): string | undefined {
  return RESERVED.has(axis) ? `'${axis}' cannot name an axis: __proto__, constructor and prototype are reserved` : undefined;
}
