/**
 * Where a dispatch bench's time goes (`--profile`): the coordinator's CPU profile over the
 * throughput run, its busy time split by the part of the code that spent it; and, on
 * PostgreSQL, each kind of statement the run sent, per task (pg_stat_statements).
 */
import { Session } from 'node:inspector/promises';
import type pg from 'pg';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** The coordinator's time over a run: how much of it the thread was busy, and on what. */
export interface CoordinatorTime {
  busy_share: number;
  /** Each part's share of the busy time, largest first. */
  parts: { part: string; share: number }[];
}

// Nearest the sample first: the first frame one of these matches names the part.
const parts: [part: string, matches: (url: string, fn: string) => boolean][] = [
  ['socket writes (to the store or an agent; with the wait for a CPU the woken reader took)', (url, fn) => url === '' && /^(writev|writeBuffer|writeUtf8String|writeLatin1String)$/.test(fn)],
  ['store driver (pg, node:sqlite)', (url) => /node_modules\/(pg|pg-protocol|pg-pool)\/|src\/store\/(sqlite|postgres)-dialect\.ts/.test(url)],
  ['query building (Kysely)', (url) => url.includes('node_modules/kysely/')],
  ['HTTP server (node:http, Hono)', (url) => /node_modules\/(hono|@hono)\/|^node:_http|^node:net|^node:internal\/(streams|stream_base)/.test(url)],
  ['request reading and validation (src/api, zod)', (url) => /src\/api\/|node_modules\/zod\//.test(url)],
  ['coordinator operations (src/coordinator)', (url) => url.includes('/src/coordinator/')],
  ['store operations (src/store)', (url) => url.includes('/src/store/')],
  ['garbage collection', (_, fn) => fn === '(garbage collector)'],
];

function partOf(frames: ProfileNode['callFrame'][]): string {
  for (const frame of frames) {
    const found = parts.find(([, matches]) => matches(frame.url, frame.functionName));
    if (found) return found[0];
  }
  return 'other (microtasks, timers, the rest of Node)';
}

export function coordinatorTime(profile: Profile): CoordinatorTime {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const spent = new Map<string, number>();
  let idle = 0;
  let total = 0;
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    total += us;
    if (byId.get(id)!.callFrame.functionName === '(idle)') {
      idle += us;
      return;
    }
    const frames: ProfileNode['callFrame'][] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) frames.push(byId.get(at)!.callFrame);
    const part = partOf(frames);
    spent.set(part, (spent.get(part) ?? 0) + us);
  });
  const busy = total - idle;
  return {
    busy_share: round(busy / total),
    parts: [...spent].sort((a, b) => b[1] - a[1]).map(([part, us]) => ({ part, share: round(us / busy) })),
  };
}

/** Starts profiling this process (the embedded coordinator); the returned function stops and sums it up. */
export async function profileCoordinator(): Promise<() => Promise<CoordinatorTime>> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 250 });
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    return coordinatorTime(profile as Profile);
  };
}

/** A statement kind's share of a run, per task. */
export interface StatementKind {
  statement: string;
  calls_per_task: number;
  rows_per_call: number;
  exec_ms_per_task: number;
  /** Run by PostgreSQL inside another statement (a foreign key's check), not sent by the coordinator. */
  nested: boolean;
}

interface StatementRow { queryid: string; toplevel: boolean; calls: string; rows: string; ms: number; query: string }

/** pg_stat_statements' counts at one time, by statement (and whether it ran inside another). */
export type StatementSnapshot = Map<string, StatementRow>;

export async function statementSnapshot(client: pg.Client): Promise<StatementSnapshot> {
  const { rows } = await client.query<StatementRow>('select queryid::text, toplevel, calls, rows, total_exec_time as ms, query from pg_stat_statements');
  return new Map(rows.map((row) => [`${row.queryid}/${row.toplevel}`, row]));
}

/**
 * A statement's kind, from its text: what it does to which table, and the name of its
 * first common table expression (which tells the dispatch path's set-based statements
 * apart). The table is the statement's own, not a subquery's: parenthesized text is left out.
 */
export function statementKind(query: string): string {
  const text = query.replace(/\s+/g, ' ').trim();
  if (/^(begin|commit|rollback)\b/i.test(text)) return text.split(' ')[0]!.toLowerCase();
  if (/pg_advisory_xact_lock/i.test(text)) return 'the store\'s write lock';
  let outer = text;
  for (let inner = ''; inner !== outer; ) [inner, outer] = [outer, outer.replace(/\([^()]*\)/g, '')];
  if (/ for key share\b/i.test(outer)) return `foreign-key check on ${/ from only (?:"?\w+"?\.)?"?(\w+)"?/i.exec(outer)?.[1]}`;
  const cte = /^with (?:recursive )?"?(\w+)"?/i.exec(outer)?.[1];
  const writeIn = (sql: string) => /\b(insert into|update|delete from) (?:"?\w+"?\.)?"?(\w+)"?/i.exec(sql);
  const from = /\bfrom (?:"?\w+"?\.)?"?(\w+)"?/i.exec(outer)?.[1];
  // A select of what its common table expressions wrote (returning) is that write.
  const write = writeIn(outer) ?? (from ? null : writeIn(text));
  const what = write ? `${write[1]!.toLowerCase().split(' ')[0]} ${write[2]}` : `select ${from ?? ''}`.trim();
  return cte ? `${what} (${cte})` : what;
}

/** The statements run between two snapshots, by kind, per task; most called first. */
export function statementKinds(before: StatementSnapshot, after: StatementSnapshot, tasks: number): StatementKind[] {
  const kinds = new Map<string, { calls: number; rows: number; ms: number; nested: boolean }>();
  for (const [key, row] of after) {
    const earlier = before.get(key);
    const calls = Number(row.calls) - Number(earlier?.calls ?? 0);
    if (calls === 0) continue;
    const name = statementKind(row.query);
    const kind = kinds.get(`${name}/${row.toplevel}`) ?? { calls: 0, rows: 0, ms: 0, nested: !row.toplevel };
    kind.calls += calls;
    kind.rows += Number(row.rows) - Number(earlier?.rows ?? 0);
    kind.ms += row.ms - (earlier?.ms ?? 0);
    kinds.set(`${name}/${row.toplevel}`, kind);
  }
  return [...kinds].map(([key, kind]) => ({
    statement: key.slice(0, key.lastIndexOf('/')), calls_per_task: round(kind.calls / tasks), rows_per_call: round(kind.rows / kind.calls),
    exec_ms_per_task: round(kind.ms / tasks), nested: kind.nested,
  })).sort((a, b) => b.calls_per_task - a.calls_per_task);
}

function round(n: number): number {
  return Number(n.toFixed(3));
}
