// libsmartcols filter expressions (scols-filter(5)) as ts-lsns --filter reads them: the
// grammar, the casts between types and the refusals, in-process on made-up rows.
import t from 'tap';
import { FilterError, parseFilter, type FilterType } from '../../src/ns/filter.js';

/** A row: column -> [text or null (empty cell), type]. */
type Row = Record<string, [string | null, FilterType]>;
const ROW: Row = {
  NS: ['4026531837', 'u64'], NPROCS: ['3', 'u64'], PID: [null, 'u64'], TYPE: ['net', 'string'],
  USER: ['nobody', 'string'], NETNSID: ['unassigned', 'string'], COMMAND: ['sleep 600', 'string'], NSFS: [null, 'string'],
};
const matches = (expr: string, row: Row = ROW) => parseFilter(expr).matches((h) => {
  const [data, type] = row[h.toUpperCase()];
  return { data, type };
});

t.test('comparisons in each type', async (t) => {
  const yes = ['NS == 4026531837', 'NS EQ 4026531837', 'NPROCS > 1', 'NPROCS gt 2.5', 'NPROCS <= 3', 'NPROCS lt 1K',
    'NS > 3G', 'NS < 4GiB', 'TYPE == "net"', "TYPE == 'net'", 'TYPE != "pid"', 'TYPE ne "pid"', 'USER > "m"', 'USER ge "nobody"',
    'NPROCS == "3"', 'TYPE =~ "^n.t$"', 'COMMAND =~ "[[:digit:]]+"', 'TYPE !~ "^pid"', 'NPROCS == true', 'NS', 'TYPE', 'NPROCS >= 3.0'];
  for (const e of yes) t.ok(matches(e), e);
  const no = ['NS != 4026531837', 'NPROCS < 3', 'TYPE == "pid"', 'USER < "a"', 'TYPE =~ "^pid"', 'PID', 'NSFS', 'PID == 0',
    'PID != 0', 'NPROCS == false', 'false', '0'];
  for (const e of no) t.notOk(matches(e), e);
  t.ok(matches('NSFS < "a"'), 'an empty text cell sorts before any text');
  t.ok(matches(''), 'the empty expression lets every row pass');
});

t.test('logic: and/or bind alike left to right, comparisons tighter, ! takes one operand', async (t) => {
  t.ok(matches('TYPE == "net" && NPROCS == 3'));
  t.ok(matches('TYPE == "pid" || NPROCS == 3'));
  t.ok(matches('!(TYPE == "pid")'));
  t.ok(matches('NOT TYPE == "pid"'), '(NOT TYPE) == "pid": NOT TYPE is false, and "pid" read as a boolean is false too');
  t.notOk(matches('true or false and false'), '(true or false) and false: no precedence between and/or');
  t.ok(matches('false and false or true'));
  t.ok(matches('not not NS'));
  t.same(parseFilter('USER != "root" and NPROCS > 1 or ns == 5').holders, ['USER', 'NPROCS', 'ns']);
});

t.test('a cell that is not a number where one is compared is an error', async (t) => {
  t.throws(() => matches('NETNSID == 5'), new FilterError("NETNSID: 'unassigned' is not an unsigned number"));
});

t.test('bad expressions: one FilterError naming what is wrong', async (t) => {
  const bad: [string, string | RegExp][] = [
    ['NS ==', 'syntax error, unexpected end of expression'],
    ['(NS > 1', "syntax error, unexpected end of expression, expecting ')'"],
    ['NS > 1)', "syntax error, unexpected ')'"],
    ['NS 1', "syntax error, unexpected '1'"],
    ['NS @ 1', "unexpected character '@'"],
    ['TYPE == "net', 'unterminated string at "net'],
    ['TYPE =~ PID', "the right side of '=~' must be a string"],
    ['TYPE =~ "a**"', "unsafe regular expression 'a**'"],
    ['TYPE =~ "(a+)+"', "unsafe regular expression '(a+)+'"],
    ['TYPE =~ "a{1,5000}"', "unsafe regular expression 'a{1,5000}'"],
    ['TYPE =~ "("', /^invalid regular expression '\(': /],
    ['NS > 99999999999999999999K', '"99999999999999999999K" number too large'],
    ['1||'.repeat(130) + '1', 'too many nodes (the limit is 256)'],
    ['x'.repeat(1025), 'expression longer than 1024 bytes'],
  ];
  for (const [expr, message] of bad) t.throws(() => parseFilter(expr), { name: 'FilterError', message }, expr.slice(0, 40));
  t.throws(() => parseFilter(5 as unknown as string), TypeError);
});
