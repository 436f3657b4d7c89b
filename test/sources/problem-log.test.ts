import { ProblemLog } from '../../src/sources/problem-log';
import { captureLog } from '../helpers/capture-log';

describe('ProblemLog', () => {
  it('logs one line per (test, field, problem) with its count, at most `max` lines plus one summary, then starts over', async () => {
    const { log, entries } = captureLog();
    const p = new ProblemLog(2);
    for (let i = 0; i < 3; i++) p.add('1', 'dimension.name', 'not an ISO-8601 time');
    p.add('2', 'step', 'not a non-negative integer');
    p.add('3', 'a', 'x');
    p.add('4', 'b', 'y');
    p.add('4', 'b', 'y');
    expect(p.size).toBe(4);
    p.flush(log, 'skipped', { source: 'cp' });
    expect(p.size).toBe(0);
    await new Promise((r) => setImmediate(r));
    expect(entries.map(({ level, message, source, test, field, problem, count, problems }) => ({ level, message, source, test, field, problem, count, problems }))).toEqual([
      { level: 'warn', message: 'skipped', source: 'cp', test: '1', field: 'dimension.name', problem: 'not an ISO-8601 time', count: 3, problems: undefined },
      { level: 'warn', message: 'skipped', source: 'cp', test: '2', field: 'step', problem: 'not a non-negative integer', count: 1, problems: undefined },
      { level: 'warn', message: 'skipped (further problems not listed)', source: 'cp', test: undefined, field: undefined, problem: undefined, count: 3, problems: 2 },
    ]);
  });
});
