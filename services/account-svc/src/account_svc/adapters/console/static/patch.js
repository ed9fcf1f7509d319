// JSON merge patch (RFC 7386) of what an edit changed.

const ANSWER_ONLY = new Set(['id', 'version', 'status', 'created_at', 'updated_at']);
const SECRET_MARKS = new Set(['salt', 'passphrase_set']);

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isEmpty = (v) => v === null || (Array.isArray(v) && v.length === 0)
  || (isObject(v) && Object.keys(v).length === 0);

function withoutMarks(value) {
  if (Array.isArray(value)) return value.map(withoutMarks);
  if (!isObject(value)) return value;
  return Object.fromEntries(Object.entries(value)
    .filter(([key]) => !SECRET_MARKS.has(key))
    .map(([key, v]) => [key, withoutMarks(v)]));
}

/** The config part of an account as answered (no answer-only fields, salts or secret marks). */
export function editableConfig(account) {
  return withoutMarks(Object.fromEntries(
    Object.entries(account).filter(([key]) => !ANSWER_ONLY.has(key))));
}

/**
 * The merge patch that turns `before` into `after`, or undefined when nothing changed.
 * A key `after` leaves out is removed (null) unless it was already empty.
 */
export function mergePatch(before, after) {
  if (!isObject(before) || !isObject(after)) {
    return JSON.stringify(before) === JSON.stringify(after) ? undefined : after;
  }
  const patch = {};
  for (const [key, value] of Object.entries(after)) {
    const change = mergePatch(before[key], value);
    if (change !== undefined) patch[key] = change;
  }
  for (const [key, value] of Object.entries(before)) {
    if (!(key in after) && !isEmpty(value)) patch[key] = null;
  }
  return Object.keys(patch).length ? patch : undefined;
}
