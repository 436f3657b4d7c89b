/**
 * Freezes plain objects and arrays recursively, so a component handed a slice
 * of the config cannot change what another one sees. Compiled patterns are left
 * alone (a RegExp keeps lastIndex state).
 */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || value instanceof RegExp || Object.isFrozen(value)) return value;
  const proto = Object.getPrototypeOf(value) as unknown;
  if (!Array.isArray(value) && proto !== Object.prototype && proto !== null) return value;
  Object.freeze(value);
  for (const v of Object.values(value as object)) deepFreeze(v);
  return value;
}
