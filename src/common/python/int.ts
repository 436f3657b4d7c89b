import { toAsciiDigits } from './digits';
import { pyStrip } from './str';

/** Python int(str) in base 10 (whitespace, sign, `_` between digits, any Unicode digits); undefined where it raises. */
export function parsePyInt(input: string): { value: number; text: string } | undefined {
  const s = toAsciiDigits(pyStrip(input));
  if (!/^[+-]?\d(?:_?\d)*$/.test(s)) return undefined;
  const negative = s.startsWith('-');
  const digits = s.replace(/^[+-]/, '').replace(/_/g, '');
  if (digits.length > 4300) return undefined; // sys.int_info.str_digits_check_threshold (3.11)
  const magnitude = digits.replace(/^0+(?=\d)/, '');
  const text = negative && magnitude !== '0' ? `-${magnitude}` : magnitude;
  return { value: Number(text), text };
}
