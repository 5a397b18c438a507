/**
 * How long recommendations take: the pure part of a run (domain/planswap recommendPlan: every
 * subscription's basis periods priced on its plan and on every plan on sale), for N subscriptions
 * across B brands with 3-6 plans each. Prints figures; asserts nothing. Not part of the tests.
 *
 *   npm run bench:recommendations -- [--subscriptions 100000] [--brands 20] [--seed 14]
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { dec } from '../domain/money/index.ts';
import { DEFAULT_RECOMMENDATION_SETTINGS, plansOnSale, recommendPlan, type PeriodUsage } from '../domain/planswap/index.ts';
import { seededRandom } from '../domain/prng.ts';
import type { Plan, Subscription } from '../domain/reference/index.ts';

const { values } = parseArgs({ options: { subscriptions: { type: 'string', default: '100000' }, brands: { type: 'string', default: '20' }, seed: { type: 'string', default: '14' } } });
const subscriptionCount = Number(values.subscriptions);
const brandCount = Number(values.brands);
const random = seededRandom(Number(values.seed));
const MIN = 60;
const month = (m: number) => ({ start: new Date(Date.UTC(2026, m - 1, 1)), end: new Date(Date.UTC(2026, m, 1)) });
const now = new Date(Date.UTC(2026, 3, 16));

function plansFor(brand: string): Plan[] {
  const count = 3 + Math.floor(random() * 4); // 3-6
  return Array.from({ length: count }, (_, i) => {
    const minutes = 100 * 2 ** i;
    return {
      planId: `${brand}-p${i}`, version: 1, owner: brand, name: `${minutes} min`, currency: 'USD', monthlyFee: (5 + i * 12).toFixed(2), trialDays: 0,
      grants: [{ bucketId: `${brand}-p${i}-voice`, usageType: 'voice', seconds: minutes * MIN, priority: 0 }],
      priceModels: [
        { usageType: 'voice', kind: i % 2 === 0 ? 'PER_UNIT' : 'GRADUATED', unitSeconds: 60, tiers: i % 2 === 0 ? [{ upTo: null, unitPrice: (0.15 - i * 0.015).toFixed(3), flatFee: '0' }] : [{ upTo: 500, unitPrice: '0.10', flatFee: '0' }, { upTo: null, unitPrice: '0.06', flatFee: '0' }] },
        { usageType: 'sms', kind: 'PER_UNIT', unitSeconds: 1, tiers: [{ upTo: null, unitPrice: '0.01', flatFee: '0' }] },
      ],
      numberAllotment: 5, commitmentDiscount: null,
    } satisfies Plan;
  });
}

interface Case { subscription: Subscription; currentPlan: Plan; candidates: Plan[]; closed: PeriodUsage[]; current: PeriodUsage }
const cases: Case[] = [];
const perBrand = Math.ceil(subscriptionCount / brandCount);
for (let b = 0; b < brandCount; b++) {
  const brand = `brand-${b}`;
  const plans = plansFor(brand);
  const onSale = plansOnSale(plans, { code: brand, parentCompany: 'parent', currency: 'USD' });
  for (let s = 0; s < perBrand && cases.length < subscriptionCount; s++) {
    const currentPlan = plans[Math.floor(random() * plans.length)]!;
    const typical = 50 + random() * 3000;
    const usage = (scale: number) => [
      { usageType: 'voice', calls: 40, billableSeconds: Math.round(typical * MIN * scale * (0.7 + random() * 0.6)) },
      { usageType: 'sms', calls: 30, billableSeconds: Math.floor(random() * 200) },
    ];
    cases.push({
      subscription: { subscriptionId: `${brand}-s${s}`, brand, accountId: `${brand}-a${s}`, planId: currentPlan.planId, planVersion: 1, addOnGrants: [], anchor: Date.UTC(2025, 11, 1), status: 'active', trialEndsAt: null, cancelledAt: null, commitment: null, planChanges: [], billingPausedAt: null },
      currentPlan,
      candidates: onSale,
      closed: [1, 2, 3].map((m) => ({ ...month(m), usage: usage(1) })),
      current: { ...month(4), usage: usage(0.5) },
    });
  }
}

const outcomes: Record<string, number> = {};
let saving = dec(0);
const started = process.hrtime.bigint();
const cpuStart = process.cpuUsage();
for (const c of cases) {
  const outcome = recommendPlan({ ...c, currency: 'USD', roundingMode: 'half_up', numbersHeld: 1, now, settings: DEFAULT_RECOMMENDATION_SETTINGS });
  const key = outcome.kind === 'recommend' ? `recommend (${outcome.recommendation.direction})` : `none (${outcome.reason})`;
  outcomes[key] = (outcomes[key] ?? 0) + 1;
  if (outcome.kind === 'recommend') saving = saving.plus(outcome.recommendation.savingPerPeriod);
}
const ms = Number(process.hrtime.bigint() - started) / 1e6;
const cpu = process.cpuUsage(cpuStart);
const plansPriced = cases.reduce((n, c) => n + c.candidates.length, 0);

process.stdout.write(
  [
    `recommendations: ${cases.length} subscriptions, ${brandCount} brands, ${plansPriced} plan comparisons (3-6 plans a brand), 4 basis periods each (3 closed + current projected)`,
    `  wall ${(ms / 1000).toFixed(2)} s, ${((ms * 1000) / cases.length).toFixed(1)} µs a subscription, ${Math.round(cases.length / (ms / 1000))} subscriptions/s`,
    `  CPU user ${(cpu.user / 1e6).toFixed(2)} s, system ${(cpu.system / 1e6).toFixed(2)} s; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}; node ${process.version}`,
    `  outcomes: ${Object.entries(outcomes).sort().map(([k, v]) => `${k} ${v}`).join(', ')}; total saving a period ${saving.toFixed(2)} USD`,
  ].join('\n') + '\n',
);
