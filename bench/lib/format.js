// @ts-check
'use strict';

/**
 * A plain-text table: first row is the header; numbers right-aligned.
 * @param {Array<Array<string | number>>} rows
 * @returns {string}
 */
function table(rows) {
  const cells = rows.map((r) => r.map(String));
  const widths = cells[0].map((_, c) => Math.max(...cells.map((r) => (r[c] ?? '').length)));
  // '-' (not applicable) does not make a column of numbers textual
  const numeric = widths.map((_, c) => rows.slice(1).every((r) => typeof r[c] === 'number' || r[c] === '-' || /^[-+]?[\d,.]+( \w+)?$/.test(String(r[c]))));
  const line = (/** @type {string[]} */ r) => r.map((s, c) => (numeric[c] && c > 0 ? s.padStart(widths[c]) : s.padEnd(widths[c]))).join('  ').trimEnd();
  const sep = widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(cells[0]), sep, ...cells.slice(1).map(line)].join('\n');
}

/** @param {number} n @param {number} digits */
function fixed(n, digits) {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** @param {number} n */
function int(n) {
  return Math.round(n).toLocaleString('en-US');
}

module.exports = { table, fixed, int };
