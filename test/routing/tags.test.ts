import cases from '../fixtures/tagged-names.json';
import { normalizeTaggedName } from '../../src/routing/tags';

describe('normalizeTaggedName matches carbon TaggedSeries.parse(name).path', () => {
  it.each(cases as [string, string | null][])('%j -> %j', (input, expected) => {
    expect(normalizeTaggedName(input) ?? null).toBe(expected);
  });
});
