import fs from 'node:fs';
import path from 'node:path';

/** Bytes of spool segment files under a relay's data directory (every destination). */
export function spoolSegmentBytes(dataDir: string): number {
  const root = path.join(dataDir, 'spool');
  if (!fs.existsSync(root)) return 0;
  let total = 0;
  for (const d of fs.readdirSync(root)) for (const f of fs.readdirSync(path.join(root, d))) if (f.endsWith('.seg')) total += fs.statSync(path.join(root, d, f)).size;
  return total;
}
