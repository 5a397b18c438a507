import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCatalogueSample, startConsoleDemo, type CatalogueSample, type ConsoleDemo } from '../cli/console-demo.ts';
import { testConfig, uniqueSuffix } from './helpers.ts';

/**
 * The end of `npm start`: the function that starts the console on the demo data and prints its
 * address and keys (cli/console-demo.ts), run on the sample's first brand under a code of this
 * run's (the whole demo bills every sample-brand subscription on the stack at 2 April 2026, which
 * is not for a shared test stack; `npm start` itself is measured by hand, see the README).
 */
const run = uniqueSuffix();
const brand = `t${run}-dm`;

/** The sample's first brand, its own plans and rules renamed for this run; the parent's shared rules left out (they are everyone's). */
function sampleForRun(): CatalogueSample {
  const sample = readCatalogueSample();
  const original = sample.brands[0]!.code;
  return {
    parentCompany: sample.parentCompany,
    brands: [{ ...sample.brands[0]!, code: brand }],
    plans: sample.plans.filter((p) => p.owner === original).map((p) => ({ ...p, planId: `${p.planId}-${run}`, owner: brand })),
    ratingRules: sample.ratingRules.filter((r) => r.companyId === original).map((r) => ({ ...r, ruleId: `${r.ruleId}-${run}`, companyId: brand })),
  };
}

const lines: string[] = [];
let demo: ConsoleDemo;

beforeAll(async () => {
  demo = await startConsoleDemo(testConfig('console-demo'), (line) => lines.push(line), { sample: sampleForRun(), collectGroupId: `collect-console-demo-${run}` });
}, 120_000);

afterAll(async () => {
  await demo?.stop();
});

/** Signs in with the key as the browser's form does; the session cookie when the console took it. */
async function signIn(url: string, key: string): Promise<string | undefined> {
  const res = await fetch(new URL('/sign-in', url), { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ key }), redirect: 'manual' });
  return res.status === 303 && res.headers.get('location') === '/' ? res.headers.get('set-cookie')!.split(';')[0] : undefined;
}

describe("npm start's console", () => {
  it('prints, last, the console address that answers the sign-in page, a parent key that sees every brand and a clerk key that sees only its own', async () => {
    expect(lines).toHaveLength(4);
    const url = lines[0]!.match(/^the operations console .*: (http:\/\/127\.0\.0\.1:\d+\/)$/)?.[1];
    const parentKey = lines[1]!.match(/parent company's key \(every brand\): (rlk_\S+)$/)?.[1];
    const clerkKey = lines[2]!.match(new RegExp(`${brand}'s clerk key \\(that brand only\\):\\s+(rlk_\\S+)$`))?.[1];
    expect([url, parentKey, clerkKey]).toEqual([demo.url, demo.parentKey, demo.clerkKey]);
    expect(lines[3]).toMatch(/Ctrl-C stops the console/);

    const page = await fetch(new URL('/sign-in', url));
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<label for="key">API key</label>');

    // A made-up key is refused.
    expect(await signIn(url!, `rlk_000000000000_${run}`)).toBeUndefined();

    const parent = await signIn(url!, parentKey!);
    expect(parent).toBeDefined();
    // Today narrowed to this run's brand (the shared stack holds every earlier suite's brands).
    const today = await fetch(new URL(`/?q=${brand}`, url), { headers: { cookie: parent! } });
    expect(today.status).toBe(200);
    const parentHtml = await today.text();
    expect(parentHtml).toContain('all brands (parent key)');
    expect(parentHtml).toContain(`<tr data-brand="${brand}">`);

    const clerk = await signIn(url!, clerkKey!);
    expect(clerk).toBeDefined();
    const clerkHtml = await (await fetch(url!, { headers: { cookie: clerk! } })).text();
    expect(clerkHtml.match(/<tr data-brand="[^"]+">/g)).toEqual([`<tr data-brand="${brand}">`]);

    // The Catalogue screen has the brand's plans and rules, put into the catalogue through its API.
    const catalogue = await (await fetch(new URL('/catalog', url), { headers: { cookie: clerk! } })).text();
    expect(catalogue).toContain(`data-plan="ansr-us-pro-${run}"`);
    expect(catalogue).toContain(`data-rule="ansr-us-lca-${run}"`);
  });
});
