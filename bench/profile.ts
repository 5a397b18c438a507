/**
 * A CPU profile of one window of the bench (the stage under test draining its input), taken with
 * node:inspector in this process, written as a .cpuprofile (Chrome DevTools, speedscope) and
 * summarised by self time: per function, and per owner (kafkajs, avsc, node internals, ours...).
 */
import fs from 'node:fs';
import inspector from 'node:inspector';
import path from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

export interface RunningProfile {
  stop(): Promise<CpuProfile>;
}

function post<T>(session: inspector.Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => session.post(method, params ?? {}, (err, result) => (err ? reject(err) : resolve(result as T))));
}

export async function startProfile(intervalMicros = 500): Promise<RunningProfile> {
  const session = new inspector.Session();
  session.connect();
  await post(session, 'Profiler.enable');
  await post(session, 'Profiler.setSamplingInterval', { interval: intervalMicros });
  await post(session, 'Profiler.start');
  return {
    stop: async () => {
      const { profile } = await post<{ profile: CpuProfile }>(session, 'Profiler.stop');
      await post(session, 'Profiler.disable');
      session.disconnect();
      return profile;
    },
  };
}

/** Who owns a frame: a package, node's internals, V8's pseudo-frames, or this repository. */
export function ownerOf(url: string, functionName: string): string {
  if (url === '') {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'V8/program';
    return 'native';
  }
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return pkg[1]!;
  if (url.startsWith('node:')) return 'node internals';
  const repo = /\/(runtime|services|contracts|domain|bench|topics)\//.exec(url);
  if (repo) return `rateline ${repo[1]}/`;
  return url;
}

export interface ProfileSummary {
  totalMs: number;
  byOwner: { owner: string; ms: number; pct: number }[];
  byFunction: { name: string; owner: string; ms: number; pct: number }[];
}

export function summariseProfile(profile: CpuProfile, top = 20): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  const samples = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  for (let i = 0; i < samples.length; i++) {
    // A sample's time is the delta to the next sample.
    const dt = deltas[i + 1] ?? 0;
    self.set(samples[i]!, (self.get(samples[i]!) ?? 0) + dt);
  }
  const fn = new Map<string, { name: string; owner: string; us: number }>();
  const owner = new Map<string, number>();
  let total = 0;
  for (const [id, us] of self) {
    const node = byId.get(id)!;
    const { functionName, url, lineNumber } = node.callFrame;
    const who = ownerOf(url, functionName);
    total += us;
    owner.set(who, (owner.get(who) ?? 0) + us);
    const file = url ? `${path.basename(url)}:${lineNumber + 1}` : '';
    const key = `${functionName}|${url}|${lineNumber}`;
    const entry = fn.get(key) ?? { name: `${functionName || '(anonymous)'}${file ? ` ${file}` : ''}`, owner: who, us: 0 };
    entry.us += us;
    fn.set(key, entry);
  }
  const pct = (us: number) => (total > 0 ? (100 * us) / total : 0);
  return {
    totalMs: total / 1000,
    byOwner: [...owner].map(([o, us]) => ({ owner: o, ms: us / 1000, pct: pct(us) })).sort((a, b) => b.ms - a.ms),
    byFunction: [...fn.values()].map((f) => ({ name: f.name, owner: f.owner, ms: f.us / 1000, pct: pct(f.us) })).sort((a, b) => b.ms - a.ms).slice(0, top),
  };
}

export function writeProfile(file: string, profile: CpuProfile): void {
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(profile));
}

export function formatSummary(summary: ProfileSummary, say: (line: string) => void, ownersShown = 14): void {
  say(`  CPU profile: ${summary.totalMs.toFixed(0)} ms sampled; self time by owner:`);
  for (const o of summary.byOwner.slice(0, ownersShown)) say(`    ${o.pct.toFixed(1).padStart(5)}%  ${o.owner}`);
  say('  top functions by self time:');
  for (const f of summary.byFunction) say(`    ${f.pct.toFixed(1).padStart(5)}%  ${f.name}  [${f.owner}]`);
}

// `tsx bench/profile.ts <file.cpuprofile> [top]`: summarise a profile written by --cpu-prof.
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname)) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: tsx bench/profile.ts <file.cpuprofile> [top]\n');
    process.exit(2);
  }
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile;
  formatSummary(summariseProfile(profile, Number(process.argv[3] ?? 25)), (l) => process.stdout.write(`${l}\n`));
}
